import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/main.js';
import { createMemoryStore } from '../src/index.js';
import { createWorld, INTERACTION_CODE, PERSON_SUB, requirementHeader, type World } from './support/world.js';

let world: World;
beforeEach(async () => {
  world = await createWorld();
});
afterEach(async () => {
  await world.close();
});

function cli() {
  const out: string[] = [];
  const err: string[] = [];
  const opened: string[] = [];
  const answers: string[] = [];
  const store = createMemoryStore();
  const run = (...argv: string[]) =>
    runCli(argv, {
      out: (t) => out.push(t),
      err: (t) => err.push(t),
      env: {},
      agent: { store, clock: world.clock, sleep: async () => {}, keys: world.keys },
      // Never the OS opener or the real terminal in tests.
      open: async (url) => {
        opened.push(url);
        return true;
      },
      ask: async () => answers.shift() ?? '',
    });
  return { run, out, err, opened, answers, store };
}

describe('aauth CLI', () => {
  it('enroll shows the approval URL and code; whoami, fetch --json, token show, logout', async () => {
    const { run, out, err } = cli();
    expect(await run('enroll', world.ps.url)).toBe(0);
    expect(err.join('')).toContain(`enter the code ${INTERACTION_CODE}`);
    expect(out.join('')).toMatch(/^Enrolled as aauth:/);
    out.length = 0;
    expect(await run('whoami', '--json')).toBe(0);
    expect(JSON.parse(out.join('')).ps).toBe(world.ps.url);
    world.rs.route('GET', '/api/agent/whoami', async (request) => {
      const token = world.tokenOf(await world.verify(request));
      return { status: 200, body: { agent: token.claims.sub } };
    });
    out.length = 0;
    expect(await run('fetch', '--json', `${world.rs.url}/api/agent/whoami`)).toBe(0);
    const printed = JSON.parse(out.join(''));
    expect(printed.status).toBe(200);
    expect(printed.body.agent).toMatch(/^aauth:/);
    out.length = 0;
    expect(await run('token', 'show', '--json')).toBe(0);
    expect(JSON.parse(out.join('')).map((t: { kind: string }) => t.kind)).toEqual(['agent']);
    expect(await run('logout')).toBe(0);
    err.length = 0;
    expect(await run('whoami')).toBe(1);
    expect(err.join('')).toBe(
      'aauth: not_enrolled — This agent is not enrolled with an Agent Provider. (401)\n',
    );
  });

  it('prints one line with the spec error code on failure, JSON with --json', async () => {
    const { run, out, err } = cli();
    await run('enroll', world.ps.url);
    world.rs.route('GET', '/x', () => ({
      status: 401,
      headers: requirementHeader({ requirement: 'claims' }),
    }));
    expect(await run('fetch', `${world.rs.url}/x`)).toBe(1);
    expect(err.at(-1)).toMatch(/^aauth: unsupported_requirement — .*claims.* \(401\)\n$/);
    out.length = 0;
    expect(await run('fetch', '--json', `${world.rs.url}/x`)).toBe(1);
    expect(JSON.parse(out.join('')).error).toBe('unsupported_requirement');
  });

  it('--verbose prints each step', async () => {
    const { run, err } = cli();
    await run('enroll', world.ps.url);
    world.rs.route('GET', '/api/me', async (request) => {
      const token = world.tokenOf(await world.verify(request));
      if (token.kind !== 'person')
        return { status: 401, headers: requirementHeader({ requirement: 'person-token' }) };
      return { status: 200, body: { sub: token.claims.sub } };
    });
    err.length = 0;
    expect(await run('fetch', '--verbose', `${world.rs.url}/api/me`)).toBe(0);
    const steps = err.join('');
    expect(steps).toContain('requirement: person-token');
    expect(steps).toContain('person-token: POST');
  });
});

describe('aauth mission, subagent, fetch --mission/--as, interaction display', () => {
  function routeMe() {
    world.rs.route('GET', '/api/me', async (request) => {
      const verified = await world.verify(request);
      const token = world.tokenOf(verified);
      if (token.kind !== 'person')
        return { status: 401, headers: requirementHeader({ requirement: 'person-token' }) };
      return {
        status: 200,
        body: {
          sub: token.claims.sub,
          jkt: verified.key.thumbprint,
          mission_s256: (token.claims as { mission_s256?: string }).mission_s256 ?? null,
        },
      };
    });
  }

  it('mission propose (clarification answered at the terminal), show, fetch --mission, update, complete', async () => {
    const { run, out, err, answers } = cli();
    await run('enroll', world.ps.url);
    world.ps.route('POST', '/mission', async (request) => {
      await world.verify(request);
      return {
        status: 202,
        headers: {
          location: '/mission/pending/1',
          'retry-after': '0',
          'cache-control': 'no-store',
          ...requirementHeader({ requirement: 'clarification' }),
        },
        body: { status: 'pending', clarification: 'Which week?' },
      };
    });
    let answered: unknown;
    world.ps.route('POST', '/mission/pending/1', async (request) => {
      answered = request.json();
      return {
        status: 202,
        headers: { location: '/mission/pending/1', 'retry-after': '0', 'cache-control': 'no-store' },
        body: { status: 'interacting' },
      };
    });
    world.ps.route('GET', '/mission/pending/1', async (request) => {
      const token = world.tokenOf(await world.verify(request));
      const proposal = JSON.parse(world.ps.requests.find((r) => r.path === '/mission')!.body.toString());
      return { status: 200, body: world.approveMission(token.claims.sub, token.cnfKey!.jwk, proposal) };
    });
    answers.push('This week.');
    out.length = 0;
    expect(
      await run(
        'mission',
        'propose',
        '# Notes',
        '--tool',
        'Summarize=Summarize text',
        '--tool',
        'Read',
        '--resource',
        world.rs.url,
        '--json',
      ),
    ).toBe(0);
    const mission = JSON.parse(out.join(''));
    expect(world.ps.requests.find((r) => r.path === '/mission')!.json()).toMatchObject({
      description: '# Notes',
      tools: [
        { name: 'Summarize', description: 'Summarize text' },
        { name: 'Read', description: 'Read' },
      ],
      resources: [world.rs.url],
    });
    expect(err.join('')).toContain('The person asks: Which week?');
    expect(answered).toEqual({ action: 'clarification_response', clarification_response: 'This week.' });

    out.length = 0;
    expect(await run('mission', 'show')).toBe(0);
    expect(out.join('')).toContain(`mission         ${mission.s256} (current)`);
    expect(out.join('')).toContain('tools           Summarize, Read');

    routeMe();
    out.length = 0;
    expect(await run('fetch', '--json', '--mission', 'current', `${world.rs.url}/api/me`)).toBe(0);
    expect(JSON.parse(out.join('')).body).toMatchObject({ sub: PERSON_SUB, mission_s256: mission.s256 });
    // The approval's person token was used: no person token request.
    expect(world.ps.hits('POST', '/person')).toBe(0);

    world.ps.route('POST', `/mission/${mission.s256}`, async (request) => {
      const body = request.json();
      if (body.action === 'update')
        return { status: 200, body: { s256: 'Q2h1Y2sgSW50ZWdyaXR5IENoZWNrQ2h1Y2sgSW50ZWc' } };
      return { status: 200, body: { mission_status: 'terminated', termination_reason: 'completed' } };
    });
    out.length = 0;
    expect(await run('mission', 'update', 'Also last week.')).toBe(0);
    expect(out.join('')).toBe('Update accepted: Q2h1Y2sgSW50ZWdyaXR5IENoZWNrQ2h1Y2sgSW50ZWc\n');
    out.length = 0;
    expect(await run('mission', 'complete', 'Done.')).toBe(0);
    expect(out.join('')).toBe(`Mission ${mission.s256} terminated (completed)\n`);
    err.length = 0;
    expect(await run('fetch', '--mission', mission.s256, `${world.rs.url}/api/me`)).toBe(1);
    expect(err.join('')).toBe(
      'aauth: mission_terminated — The mission has ended; propose a new one. (403)\n',
    );
  });

  it('subagent create, then fetch --as signs with the sub-agent key', async () => {
    const { run, out } = cli();
    await run('enroll', world.ps.url);
    out.length = 0;
    expect(await run('subagent', 'create', 'worker', '--json')).toBe(0);
    const sub = JSON.parse(out.join(''));
    expect(sub.agent).toMatch(/\+worker@/);
    routeMe();
    out.length = 0;
    expect(await run('fetch', '--json', '--as', 'worker', `${world.rs.url}/api/me`)).toBe(0);
    expect(JSON.parse(out.join('')).body.jkt).toBe(sub.key_thumbprint);
    expect(world.ps.requests.find((r) => r.path === '/person')!.json().subagent_token).toBeDefined();
  });

  it('prints {url}?code=, a QR code with --qr, and opens the browser only with --open', async () => {
    const { run, err, opened } = cli();
    await run('enroll', world.ps.url);
    const link = `${world.rs.url}/confirm?code=${INTERACTION_CODE}`;
    world.rs.route('GET', '/book', () => ({
      status: 202,
      headers: {
        location: '/pending/b',
        'retry-after': '0',
        'cache-control': 'no-store',
        ...requirementHeader({
          requirement: 'interaction',
          url: `${world.rs.url}/confirm`,
          code: INTERACTION_CODE,
        }),
      },
      body: { status: 'pending' },
    }));
    world.rs.route('GET', '/pending/b', () => ({ status: 200, body: { ok: true } }));
    err.length = 0;
    expect(await run('fetch', `${world.rs.url}/book`)).toBe(0);
    expect(err.join('')).toContain(`(or go to ${link})`);
    expect(err.join('')).not.toContain('█');
    expect(opened).toEqual([]);
    err.length = 0;
    expect(await run('fetch', '--qr', '--open', `${world.rs.url}/book`)).toBe(0);
    expect(err.join('')).toMatch(/[█▀▄]/);
    expect(opened).toEqual([link]);
  });
});
