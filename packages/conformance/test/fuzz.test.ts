import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  allHealthy,
  type FuzzServers,
  fuzzCase,
  runFuzzCase,
  SEEDS,
  startFuzzServers,
  violationOf,
} from '../src/fuzz.js';

/**
 * Bounded mutation fuzzing in the default suite (issue #10, item 2): a fixed seed and a fixed number of
 * runs, so a failure reproduces exactly; `pnpm --filter @aauth-ref/conformance fuzz:long` runs the same
 * property for minutes.
 */

const SEED = 20261129;
const RUNS = Number(process.env.FUZZ_RUNS ?? 300);
/** About 5 s on an idle 2-core machine; the bound leaves room for a machine shared with other runs. */
const TIMEOUT_MS = 120_000;

let servers: FuzzServers;
beforeAll(async () => {
  servers = await startFuzzServers();
});
afterAll(async () => {
  await servers?.close();
});

describe(`fuzzing whole signed requests (${SEEDS.length} endpoints, seed ${SEED})`, () => {
  it(
    `${RUNS} mutated requests: no exception, no 5xx, no Signature-Error on a 403; /healthz still 200`,
    async () => {
      let ran = 0;
      const statuses = new Map<number, number>();
      await fc.assert(
        fc.asyncProperty(fuzzCase, async (input) => {
          ran++;
          const response = await runFuzzCase(servers, input);
          statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1);
          const violation = violationOf(response);
          if (violation !== undefined) throw new Error(`${SEEDS[input.seed]!.name}: ${violation}`);
        }),
        { seed: SEED, numRuns: RUNS, endOnFailure: true },
      );
      console.info(
        `fuzz: ${ran} cases, statuses ${JSON.stringify(Object.fromEntries([...statuses].sort(([a], [b]) => a - b)))}`,
      );
      expect(ran).toBe(RUNS);
      expect(await allHealthy(servers)).toBe(true);
    },
    TIMEOUT_MS,
  );
});
