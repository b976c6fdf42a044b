import type { Database } from '@aauth-ref/db';
import { recordQueries, TRANSACTION_MARKERS } from '@aauth-ref/testkit';

/**
 * Counts the statements a server sends to its database, whichever way they go (testkit's
 * `recordQueries`: the Prisma driver adapter's and our own SQL). The hot-path benchmark reads the
 * counter around a few warm requests of each route to print how many database round trips a request
 * costs — the figure the request path is judged by, measured, not assumed. Transaction markers are
 * not counted, so the figures stay those of `docs/benchmarks.md`.
 */
export interface StatementCounter {
  /** Statements sent so far. */
  readonly count: () => number;
}

/**
 * `database` with its statements counted; closing it closes the original. `when` decides whether a
 * statement counts (the bench counts those sent on behalf of an HTTP request, not the revocation poll).
 */
export function countStatements(
  database: Database,
  when: () => boolean = () => true,
): { database: Database; counter: StatementCounter } {
  let statements = 0;
  const { db } = recordQueries(database, {
    when,
    onStatement: (sql) => {
      if (!TRANSACTION_MARKERS.has(sql)) statements += 1;
    },
  });
  return { database: db, counter: { count: () => statements } };
}
