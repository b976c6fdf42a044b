/**
 * `pnpm bench:scale` (fourth part): two instances of the Person Server on one PostgreSQL database,
 * serving the same flows. PostgreSQL only (skipped otherwise).
 *
 * Instance A (`issuance-server.ts`) makes the database and walks the consent flows once; instance B
 * opens the same database (`BENCH_JOIN_DATABASE_URL`) with the same signing keys — two replicas
 * behind a load balancer. Both children share core 0; this process is on core 1. Then, over HTTP:
 *
 * 1. the same flow on both: `BENCH_SCALE_INSTANCE_REQUESTS` (default 100) sequential `POST /person`
 *    (200) alternating A and B, latency per instance;
 * 2. the replay cache is shared: one signed request sent to A, then its exact bytes to B → 401
 *    (`Signature-Error: invalid_signature`, the signature has already been used);
 * 3. pending requests move between instances: `BENCH_SCALE_INSTANCE_FLOWS` (default 20, half each way)
 *    times, `POST /person` for a new resource through one instance (202, pending URL and code), a poll
 *    through the other before consent, after `Retry-After` (202, still pending: the poll pace is kept
 *    in the database, so a poll too early on the other instance is a 429 `slow_down`), alice approves through the other, and its
 *    poll answers 200 with a person token whose `aud` is that resource. Every answer is checked; the
 *    latencies of each step are reported.
 *
 * The number of flows stays below the PS's limit of 50 new resources per agent and hour
 * (§Person Token Endpoint: a PS SHOULD rate-limit distinct `resource` values).
 */
import { cpus, loadavg } from 'node:os';
import { generateSigningKeysJwks } from '@aauth-ref/fastify';
import { BENCH_DATABASE_URL as DATABASE_URL, pinLoadGenerator, stopChild } from './child.js';
import { createPsAgent, createPsBrowser, pendingOf, type Send, sendOverHttp } from './ps-browser.js';
import { makePsParties, startPersonServer } from './ps-child.js';
import { quantile } from './report.js';

if (!DATABASE_URL) {
  process.stdout.write('bench:scale (two instances): skipped — it needs PostgreSQL (BENCH_DATABASE_URL).\n');
  process.exit(0);
}
const REQUESTS = Math.max(10, Number(process.env.BENCH_SCALE_INSTANCE_REQUESTS ?? 100));
const FLOWS = Math.min(40, Math.max(2, Number(process.env.BENCH_SCALE_INSTANCE_FLOWS ?? 20)));
const PS = 'http://localhost:3001';
const RESOURCE = 'https://resource.example';

const pinning = pinLoadGenerator();
const { agent, world } = makePsParties(PS, RESOURCE);
const keys = JSON.stringify({ ps: generateSigningKeysJwks(), ap: generateSigningKeysJwks() });

process.stderr.write('scale-instances: starting instance A (new database, consent flows once)…\n');
const a = await startPersonServer(world, DATABASE_URL, { env: { BENCH_PS_KEYS: keys } });
process.stderr.write('scale-instances: starting instance B on the same database…\n');
const b = await startPersonServer(world, DATABASE_URL, {
  env: { BENCH_PS_KEYS: keys, BENCH_JOIN_DATABASE_URL: a.databaseUrl ?? '' },
});

const instances = { A: sendOverHttp(a.port), B: sendOverHttp(b.port) } as const;
const signed = createPsAgent(PS, agent);
const alice = createPsBrowser(PS, 'alice', 'alice-demo-password');
const failures: string[] = [];

/** Runs `step`, timing it; a wrong status is recorded (not thrown) so the report counts them all. */
async function timed(label: string, expected: number, step: () => ReturnType<Send>) {
  const started = performance.now();
  const reply = await step();
  const ms = performance.now() - started;
  if (reply.status !== expected)
    failures.push(`${label}: ${reply.status} (expected ${expected}) ${reply.body.slice(0, 200)}`);
  return { reply, ms };
}

const sleep = (seconds: number) => new Promise((resolve) => setTimeout(resolve, seconds * 1000));
const claimsOf = (jwt: string) =>
  JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;

try {
  // 1. The same flow on both.
  const perInstance: Record<'A' | 'B', number[]> = { A: [], B: [] };
  let sequence = 0;
  for (let i = 0; i < REQUESTS + 20; i++) {
    const name = i % 2 === 0 ? 'A' : 'B';
    sequence += 1;
    const { ms } = await timed(`POST /person on ${name}`, 200, () =>
      signed(instances[name], 'POST', '/person', { resource: RESOURCE, n: sequence }),
    );
    if (i >= 20) perInstance[name].push(ms);
  }

  // 2. One signature, two instances: the second sight is a replay whichever instance sees it.
  let captured: Parameters<Send>[0] | undefined;
  const capture: Send = async (request) => {
    captured = request;
    return instances.A(request);
  };
  await timed('replay: first sight on A', 200, () =>
    signed(capture, 'POST', '/person', { resource: RESOURCE, n: 'replayed' }),
  );
  const replayed = await timed('replay: same bytes on B', 401, () => instances.B(captured!));
  const replayError = String(replayed.reply.headers['signature-error'] ?? '');

  // 3. Pending requests created on one instance, polled and completed on the other.
  const steps = {
    create: [] as number[],
    pendingPoll: [] as number[],
    approve: [] as number[],
    answerPoll: [] as number[],
  };
  let right = 0;
  for (let k = 0; k < FLOWS; k++) {
    const [from, to] = k % 2 === 0 ? (['A', 'B'] as const) : (['B', 'A'] as const);
    const resource = `https://flow-${k}-${Date.now()}.example`;
    const created = await timed(`flow ${k}: POST /person on ${from}`, 202, () =>
      signed(instances[from], 'POST', '/person', { resource, capabilities: ['interaction'] }),
    );
    steps.create.push(created.ms);
    if (created.reply.status !== 202) continue;
    const { path, code, retryAfterS } = pendingOf(created.reply);
    // The poll pace is kept in the database, so the other instance enforces it too (429 slow_down).
    await sleep(retryAfterS);
    const early = await timed(`flow ${k}: poll on ${to} before consent`, 202, () =>
      signed(instances[to], 'GET', path),
    );
    steps.pendingPoll.push(early.ms);
    const approveStarted = performance.now();
    const nextPollAt = approveStarted + Number(early.reply.headers['retry-after'] ?? 1) * 1000;
    const decided = await alice.approve(instances[to], code);
    steps.approve.push(performance.now() - approveStarted);
    if (decided !== 200) failures.push(`flow ${k}: approval on ${to}: ${decided}`);
    await sleep(Math.max(0, nextPollAt - performance.now()) / 1000);
    const answer = await timed(`flow ${k}: poll on ${to} after consent`, 200, () =>
      signed(instances[to], 'GET', path),
    );
    steps.answerPoll.push(answer.ms);
    if (answer.reply.status === 200) {
      const token = String((JSON.parse(answer.reply.body) as { person_token?: string }).person_token ?? '');
      if (token !== '' && claimsOf(token).aud === resource) right += 1;
      else failures.push(`flow ${k}: the person token is not for ${resource}`);
    }
  }

  const row = (label: string, values: number[]) =>
    `| ${label} | ${values.length} | ${quantile(values, 0.5).toFixed(2)} | ${quantile(values, 0.99).toFixed(2)} |`;
  process.stdout.write(
    [
      '',
      '| Two PS instances, one database | n | p50 ms | p99 ms |',
      '|---|---:|---:|---:|',
      row('POST /person → 200 on A', perInstance.A),
      row('POST /person → 200 on B', perInstance.B),
      row('pending: POST /person → 202 (one instance)', steps.create),
      row('pending: poll on the other before consent → 202', steps.pendingPoll),
      row('pending: alice approves on the other (GET + POST /interaction)', steps.approve),
      row('pending: poll on the other after consent → 200 person token', steps.answerPoll),
      '',
      `replay across instances: same bytes to B after A → ${replayed.reply.status} Signature-Error: ${replayError}`,
      `pending flows: ${right}/${FLOWS} answered on the other instance with a person token for the right resource (${FLOWS / 2} A→B, ${FLOWS / 2} B→A)`,
      `failures: ${failures.length === 0 ? 'none' : `\n  ${failures.join('\n  ')}`}`,
      `node=${process.version}, cores=${cpus().length}, pinned=${pinning} (both instances on core 0), load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
      '',
    ].join('\n'),
  );
  if (failures.length > 0) process.exitCode = 1;
} finally {
  // B first: A drops the database, and B's sessions would be cut.
  await stopChild(b.child, 30_000);
  await stopChild(a.child, 30_000);
}
