import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '@aauth-ref/agent/cli';
import { type CliOutput, type DemoIo, demoSteps, runDemo, spawnCli } from '@aauth-ref/demo';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buttonsOf, PersonBrowser, visibleText } from './support/person.js';
import {
  type AccessServer,
  createWallClock,
  type Stack,
  startAuthServer,
  startStack,
} from './support/stack.js';

/**
 * `pnpm demo` against a live stack: the tour's own code (`runDemo` and its steps) runs against the
 * PS, the auth server and the demo resource on loopback ports, while alice approves what each step
 * asks for at the URL the CLI prints, on the PS's own pages (over HTTP with `PersonBrowser`: the
 * pages run no script, and the clicks in Chromium are the point of other scenarios). Each step's
 * outcome is asserted from what the CLI printed and what the PS recorded. The first command goes
 * through the tour's own spawn of the workspace's `aauth` bin (a separate process on the wall clock,
 * hence the stack's wall clock); the others run the same CLI in-process (`runCli`), as each spawn
 * pays a TypeScript start that a busy CI machine stretches to many seconds.
 */

let stack: Stack;
let as: AccessServer;
let home: string;

interface CliRun {
  readonly args: readonly string[];
  code: number;
  stdout: string;
  stderr: string;
}

beforeAll(async () => {
  const clock = createWallClock();
  [stack, as, home] = await Promise.all([
    startStack(clock),
    startAuthServer(clock),
    mkdtemp(join(tmpdir(), 'e2e-demo-')),
  ]);
}, 60_000);

afterAll(async () => {
  await Promise.all([stack?.close(), as?.close()]);
  if (home) await rm(home, { recursive: true, force: true });
});

describe('pnpm demo against a running stack', () => {
  it('runs every step of the tour to its outcome while alice approves on the PS pages', {
    timeout: 60_000,
  }, async () => {
    const { ps, rs } = { ps: stack.ps.issuer, rs: stack.rs.issuer };
    const runs: CliRun[] = [];
    /** Each interaction link the CLI printed, and where alice decided it. */
    const approved: { link: string; origin: string }[] = [];
    // The person acts on one link at a time, in the order the CLI printed them.
    let personQueue: Promise<void> = Promise.resolve();
    const personErrors: unknown[] = [];
    const person = new PersonBrowser();

    function watch(run: CliRun, output: CliOutput) {
      if (process.env.E2E_LOG_LEVEL) process.stderr.write(`[aauth ${run.args[0]}] ${output.text}`);
      if (output.stream === 'stdout') {
        run.stdout += output.text;
        return;
      }
      const seen = run.stderr.length;
      run.stderr += output.text;
      // The CLI's prompt: "Open {url} and enter the code {code}\n  (or go to {url}?code={code})".
      for (const match of run.stderr.matchAll(/\(or go to (\S+)\)/g)) {
        if ((match.index ?? 0) + match[0].length <= seen) continue;
        const link = new URL(match[1]!);
        personQueue = personQueue.then(async () => {
          try {
            const page = await person.openSignedIn(link, stack.alice);
            expect(page.url.pathname).toBe('/interaction');
            expect(buttonsOf(page)).toContain('Approve');
            const after = await person.submit(page, 'Approve');
            expect(after.status, visibleText(after.html)).toBe(200);
            await person.signOut(ps);
            approved.push({ link: link.href, origin: page.url.origin });
          } catch (err) {
            personErrors.push(err);
          }
        });
      }
    }

    let tour = '';
    let tourErrors = '';
    const io: DemoIo = {
      out: (text) => {
        tour += text;
      },
      err: (text) => {
        tourErrors += text;
      },
      runCli: async (args, env) => {
        const run: CliRun = { args, code: -1, stdout: '', stderr: '' };
        runs.push(run);
        const observe = (output: CliOutput) => watch(run, output);
        run.code =
          runs.length === 1
            ? await spawnCli(args, env, observe)
            : await runCli(args, {
                env,
                out: (text) => observe({ stream: 'stdout', text }),
                err: (text) => observe({ stream: 'stderr', text }),
              });
        await personQueue;
        return run.code;
      },
    };
    const env = {
      ...process.env,
      DEMO_PS_URL: ps,
      DEMO_AS_URL: as.issuer,
      DEMO_RS_URL: rs,
      DEMO_AAUTH_HOME: home,
    };

    const exit = await runDemo(env, io);
    const report = runs
      .map((r) => `$ aauth ${r.args.join(' ')} → ${r.code}\n${r.stdout}${r.stderr}`)
      .join('\n');
    expect(personErrors, report).toEqual([]);
    expect(tourErrors, report).toBe('');
    expect(exit, report).toBe(0);

    // The tour: logout first (a fresh agent), then each step in order, each one exiting 0.
    const steps = demoSteps({ ps, as: as.issuer, rs });
    expect(runs.map((r) => r.args)).toEqual([['logout'], ...steps.map((s) => s.args)]);
    expect(runs.map((r) => r.code)).toEqual(runs.map(() => 0));
    for (const [index, step] of steps.entries()) {
      expect(tour).toContain(`── ${index + 1}/${steps.length} ${step.title}\n`);
    }
    expect(tour).toMatch(/\nDone: /);

    const [logout, enroll, whoami, agentAccess, notes, mission] = runs as [
      CliRun,
      CliRun,
      CliRun,
      CliRun,
      CliRun,
      CliRun,
    ];
    expect(logout.stdout).toBe('Forgot keys and tokens.\n');

    // 1. Enrollment, approved by alice on the PS's page.
    const enrolled = /^Enrolled as (aauth:[0-9a-z]+@127\.0\.0\.1:\d+) \(Agent Provider (\S+)\)\n$/.exec(
      enroll.stdout,
    );
    expect(enrolled?.[2]).toBe(ps);
    const agent = enrolled![1]!;

    // 2. whoami, from the agent token.
    expect(whoami.stdout).toContain(`agent           ${agent}\n`);
    expect(whoami.stdout).toContain(`agent provider  ${ps}\n`);
    expect(whoami.stdout).toContain(`person server   ${ps}\n`);

    // 3. Agent identity access: served on the agent token alone, nobody asked.
    expect(JSON.parse(agentAccess.stdout)).toMatchObject({ agent, agent_provider: ps, ps });
    expect(agentAccess.stderr).not.toContain('(or go to');

    // 4. Three-party notes: an auth token after alice's consent, then the (empty) notebook.
    expect(JSON.parse(notes.stdout)).toEqual({ notebook: 'personal', notes: [] });
    expect(notes.stderr).toContain('auth-token: POST');
    expect(notes.stderr).toContain('status: 200');

    // 5. The mission, approved on the PS's review page, active at the PS.
    const s256 = /^Mission approved: ([A-Za-z0-9_-]{43})\n$/.exec(mission.stdout)?.[1];
    expect(s256).toBeDefined();
    const missions = await stack.ps.db.exec<{ s256: string; agent_sub: string; status: string }>(
      'SELECT s256, agent_sub, status FROM mission',
    );
    expect(missions).toEqual([{ s256, agent_sub: agent, status: 'active' }]);

    // alice decided on the PS's own pages: the enrollment, the person token's first exposure to
    // the resource and notes.read, the mission.
    expect(approved.map((a) => a.origin)).toEqual([ps, ps, ps, ps]);
    expect([enroll, notes, mission].map((r) => (r.stderr.match(/\(or go to /g) ?? []).length)).toEqual([
      1, 2, 1,
    ]);
  });
});
