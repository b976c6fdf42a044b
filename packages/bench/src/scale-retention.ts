/**
 * `pnpm bench:scale` (third part): the Person Server's pending-request and replay-cache tables under
 * sustained load stay bounded. PostgreSQL only (skipped otherwise, like `scale.ts`).
 *
 * The PS child (`issuance-server.ts`, consent flows walked once) runs with a short retention interval
 * (`RETENTION_INTERVAL_SECONDS=5`) and the shortest lifetimes its configuration admits
 * (`PENDING_TTL_SECONDS=30`, `PENDING_RETENTION_SECONDS=60`). For `BENCH_SCALE_SUSTAIN_SECONDS`
 * (default 150) this process sends `BENCH_SCALE_SUSTAIN_RATE` (default 20) signed requests a second,
 * alternating two state-changing kinds — each one a replay-cache row:
 *
 * - `POST /person` for the consented resource → 200, a person token (and its retained record);
 * - `POST /person` for a resource the agent never used → 202, a pending request (and its
 *   interaction code) nobody approves, so it expires after 30 s and may go 60 s later.
 *
 * Every 5 s it counts the rows of `pending_request`, `replay_entry` and `person_token_record`. Expected
 * plateaus: pending requests ≈ (rate / 2) × (30 + 60 + up to 6) s — the sweeper deletes them; replay
 * rows between rate × 61 s and rate × 121 s — each lives 61 s (the signature window plus a second) and
 * the replay cache itself deletes expired rows at most once a minute, so the count saw-tooths.
 * Person-token records are kept an hour past `exp` and only grow in a run this short.
 */
import { cpus, loadavg } from 'node:os';
import autocannon from 'autocannon';
import pg from 'pg';
import { BENCH_DATABASE_URL as DATABASE_URL, pinLoadGenerator, stopChild } from './child.js';
import { signAgentRequest } from './ps-browser.js';
import { makePsParties, startPersonServer } from './ps-child.js';
import { quantile } from './report.js';

if (!DATABASE_URL) {
  process.stdout.write('bench:scale (retention): skipped — it needs PostgreSQL (BENCH_DATABASE_URL).\n');
  process.exit(0);
}
const SECONDS = Math.max(10, Number(process.env.BENCH_SCALE_SUSTAIN_SECONDS ?? 150));
const RATE = Math.max(2, Number(process.env.BENCH_SCALE_SUSTAIN_RATE ?? 20));
const SAMPLE_S = 5;
const PS = 'http://localhost:3001';
const RESOURCE = 'https://resource.example';
const RETENTION = {
  RETENTION_INTERVAL_SECONDS: '5',
  PENDING_TTL_SECONDS: '30',
  PENDING_RETENTION_SECONDS: '60',
};

const pinning = pinLoadGenerator();
const { agent, world } = makePsParties(PS, RESOURCE);

process.stderr.write(`scale-retention: starting the PS (${JSON.stringify(RETENTION)})…\n`);
const server = await startPersonServer(world, DATABASE_URL, {
  env: { BENCH_PS_ENV: JSON.stringify(RETENTION) },
});
const counter = new pg.Client({ connectionString: server.databaseUrl });
await counter.connect();

interface Sample {
  readonly t: number;
  readonly sent: number;
  readonly pending: number;
  readonly replay: number;
  readonly personTokens: number;
}

async function sample(t: number, sent: number): Promise<Sample> {
  const { rows } = await counter.query<{ pending: string; replay: string; tokens: string }>(
    `SELECT (SELECT count(*) FROM pending_request) AS pending,
            (SELECT count(*) FROM replay_entry) AS replay,
            (SELECT count(*) FROM person_token_record) AS tokens`,
  );
  const row = rows[0]!;
  return {
    t,
    sent,
    pending: Number(row.pending),
    replay: Number(row.replay),
    personTokens: Number(row.tokens),
  };
}

try {
  let sequence = 0;
  const statuses = new Map<number, number>();
  const latencies: { 200: number[]; 202: number[] } = { 200: [], 202: [] };
  const samples: Sample[] = [await sample(0, 0)];
  const started = performance.now();
  const sampler = setInterval(() => {
    void sample(Math.round((performance.now() - started) / 1000), sequence).then((s) => {
      samples.push(s);
      process.stderr.write(
        `  t=${s.t}s sent=${s.sent} pending=${s.pending} replay=${s.replay} person tokens=${s.personTokens}\n`,
      );
    });
  }, SAMPLE_S * 1000);
  await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: `http://127.0.0.1:${server.port}`,
        connections: 10,
        overallRate: RATE,
        duration: SECONDS,
        requests: [
          {
            method: 'POST',
            path: '/person',
            setupRequest: (req) => {
              sequence += 1;
              // Even: the consented resource (200); odd: a resource never seen (202, pending).
              const resource = sequence % 2 === 0 ? RESOURCE : `https://new-${sequence}.example`;
              const body = JSON.stringify({ resource, capabilities: ['interaction'], n: sequence });
              const headers = signAgentRequest(PS, agent, 'POST', '/person', Buffer.from(body, 'utf8'));
              return { ...req, method: 'POST', body, headers };
            },
          },
        ],
      },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
    instance.on('response', (_c: unknown, status: number, _b: number, ms: number) => {
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      if (status === 200 || status === 202) latencies[status].push(ms);
    });
  });
  clearInterval(sampler);
  samples.push(await sample(Math.round((performance.now() - started) / 1000), sequence));

  const lines = [
    '| t s | requests sent | `pending_request` rows | `replay_entry` rows | `person_token_record` rows |',
    '|---:|---:|---:|---:|---:|',
    ...samples.map((s) => `| ${s.t} | ${s.sent} | ${s.pending} | ${s.replay} | ${s.personTokens} |`),
  ];
  const late = samples.filter((s) => s.t >= 100);
  const range = (pick: (s: Sample) => number) =>
    late.length === 0 ? '—' : `${Math.min(...late.map(pick))}–${Math.max(...late.map(pick))}`;
  const rate = (sequence / SECONDS).toFixed(1);
  process.stdout.write(`\n${lines.join('\n')}\n`);
  process.stdout.write(
    `\nstatuses: ${[...statuses].map(([s, n]) => `${s}×${n}`).join(', ')}; 200 p50/p99 ${quantile(latencies[200], 0.5).toFixed(1)}/${quantile(latencies[200], 0.99).toFixed(1)} ms, 202 p50/p99 ${quantile(latencies[202], 0.5).toFixed(1)}/${quantile(latencies[202], 0.99).toFixed(1)} ms\n` +
      `from t ≥ 100 s: pending ${range((s) => s.pending)} (expected ≈ ${((sequence / SECONDS / 2) * 93).toFixed(0)}), replay ${range((s) => s.replay)} (expected ${(Number(rate) * 61).toFixed(0)}–${(Number(rate) * 121).toFixed(0)})\n` +
      `node=${process.version}, cores=${cpus().length}, pinned=${pinning}, ${SECONDS}s at ${rate} req/s (target ${RATE}), load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}\n`,
  );
} finally {
  await counter.end();
  await stopChild(server.child, 30_000);
}
