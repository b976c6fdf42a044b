/**
 * `pnpm --filter @aauth-ref/bench bench:notes-read`: the notes read of `GET /api/notes` in one process,
 * through the Prisma client (`$queryRawUnsafe`, what a store made without a `reader` does inside a
 * transaction) against straight through the driver (`Database.exec`, what the app's store does) —
 * the same statement, the same rows. Both run alternately in several batches after a warm-up, with
 * `CONCURRENCY` callers, and each batch reports wall time and this process's CPU time per call.
 * PGlite in a temporary directory by default, PostgreSQL with `BENCH_DATABASE_URL` or `DATABASE_URL`.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyMigrations, openDatabase } from '@aauth-ref/db';
import { MIGRATIONS_DIR } from '@aauth-ref/resource-server/app';
import { createPrismaClient } from '@aauth-ref/resource-server/stores/prisma';
import { createPrismaNoteStore } from '@aauth-ref/resource-server/stores/prisma-notes';

const DATABASE_URL = process.env.BENCH_DATABASE_URL || process.env.DATABASE_URL || '';
const CALLS = Number(process.env.BENCH_CALLS ?? 2_000);
const BATCHES = Number(process.env.BENCH_BATCHES ?? 3);
const CONCURRENCY = 10;

const dataDir = await mkdtemp(join(tmpdir(), 'aauth-bench-notes-'));
const database = DATABASE_URL
  ? await openDatabase({ url: DATABASE_URL })
  : await openDatabase({ dataDir: join(dataDir, 'db') });
await applyMigrations(database, MIGRATIONS_DIR);
const prisma = createPrismaClient(database);
const viaPrisma = createPrismaNoteStore(prisma);
const viaDriver = createPrismaNoteStore(prisma, database);
const person = { iss: 'https://ps.example', sub: `bench-person-${randomUUID()}` };
for (const text of ['first note', 'second note', 'third note']) {
  await viaPrisma.create(person, 'personal', text, new Date());
}
const expected = JSON.stringify(await viaPrisma.list(person, 'personal', 100));
if (JSON.stringify(await viaDriver.list(person, 'personal', 100)) !== expected) {
  throw new Error('the two paths read different rows');
}

async function batch(store: typeof viaPrisma, calls: number): Promise<{ wallUs: number; cpuUs: number }> {
  const started = process.hrtime.bigint();
  const cpu = process.cpuUsage();
  let issued = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (issued < calls) {
        issued += 1;
        await store.list(person, 'personal', 100);
      }
    }),
  );
  const used = process.cpuUsage(cpu);
  return {
    wallUs: Number(process.hrtime.bigint() - started) / 1000 / calls,
    cpuUs: (used.user + used.system) / calls,
  };
}

const paths = [
  ['Prisma client ($queryRawUnsafe)', viaPrisma],
  ['driver (Database.exec)', viaDriver],
] as const;
for (const [, store] of paths) await batch(store, Math.round(CALLS / 4));
process.stdout.write(
  `notes read, ${DATABASE_URL ? 'PostgreSQL' : 'PGlite'}, ${CONCURRENCY} concurrent callers, ${CALLS} calls per batch, load average ${loadavg()
    .map((value) => value.toFixed(2))
    .join(' ')}\n`,
);
for (let round = 1; round <= BATCHES; round++) {
  for (const [name, store] of paths) {
    const { wallUs, cpuUs } = await batch(store, CALLS);
    process.stdout.write(
      `  batch ${round}  ${name.padEnd(32)} ${wallUs.toFixed(0).padStart(6)} µs wall  ${cpuUs.toFixed(0).padStart(6)} µs CPU per call\n`,
    );
  }
}
await prisma.$disconnect();
await database.close();
await rm(dataDir, { recursive: true, force: true });
