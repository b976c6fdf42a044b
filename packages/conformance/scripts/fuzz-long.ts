import fc from 'fast-check';
import { allHealthy, fuzzCase, runFuzzCase, SEEDS, startFuzzServers, violationOf } from '../src/fuzz.js';

/**
 * The long fuzz run (issue #10, item 2): the default suite's property, batch after batch with a new
 * seed each, for `FUZZ_MINUTES` minutes (default 2). Prints the cases run, the status mix, any
 * violation with its seed (rerun it with `fc.assert(..., { seed })`), and the RSS before and after.
 *
 *   FUZZ_MINUTES=2 pnpm --filter @aauth-ref/conformance fuzz:long
 */

const minutes = Number(process.env.FUZZ_MINUTES ?? 2);
const baseSeed = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
const BATCH = 200;

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

async function main(): Promise<void> {
  const servers = await startFuzzServers();
  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  const deadline = Date.now() + minutes * 60_000;
  const statuses = new Map<number, number>();
  const violations: string[] = [];
  let cases = 0;
  let batch = 0;
  let rssAfterWarmup: number | undefined;
  while (Date.now() < deadline) {
    const seed = baseSeed + batch;
    const result = await fc.check(
      fc.asyncProperty(fuzzCase, async (input) => {
        cases++;
        const response = await runFuzzCase(servers, input);
        statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1);
        const violation = violationOf(response);
        if (violation !== undefined) throw new Error(`${SEEDS[input.seed]!.name}: ${violation}`);
      }),
      { seed, numRuns: BATCH, endOnFailure: true },
    );
    if (result.failed) violations.push(`seed ${seed}: ${String(result.errorInstance)}`);
    batch++;
    if (batch === 2) rssAfterWarmup = process.memoryUsage().rss;
  }
  const healthy = await allHealthy(servers);
  global.gc?.();
  const rssAfter = process.memoryUsage().rss;
  await servers.close();
  const report = {
    minutes,
    baseSeed,
    cases,
    batches: batch,
    statuses: Object.fromEntries([...statuses].sort(([a], [b]) => a - b)),
    violations,
    healthzAfter: healthy,
    rssBefore: mib(rssBefore),
    rssAfterWarmup: rssAfterWarmup === undefined ? undefined : mib(rssAfterWarmup),
    rssAfter: mib(rssAfter),
  };
  console.log(JSON.stringify(report, null, 2));
  if (violations.length > 0 || !healthy) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
