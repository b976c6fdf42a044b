import type { Database, Queryable, Session } from '@aauth-ref/db';

/**
 * Records every statement a server sends to its database, whichever way it goes: the Prisma client's
 * (the driver adapter's `queryRaw` / `executeRaw` / `executeScript`, in or out of a transaction) and
 * our own SQL (`Database.exec`, in or out of a transaction or session, e.g. the replay cache), so a
 * test or the benchmark can count the round trips of one request. Transactions are recorded as their
 * `BEGIN` and `COMMIT`/`ROLLBACK` markers (see `TRANSACTION_MARKERS`), each one round trip.
 */
export interface QueryLog {
  /** The SQL text of each statement, in order, with the transaction markers. */
  readonly statements: string[];
  clear(): void;
}

export interface RecordQueriesOptions {
  /** Whether a statement is recorded now (the bench keeps those sent for an HTTP request). */
  readonly when?: () => boolean;
  /** Receives each recorded statement instead of the log (a long run counting without keeping). */
  readonly onStatement?: (sql: string) => void;
}

/** The entries a transaction adds to `QueryLog.statements` in place of the driver's own SQL. */
export const TRANSACTION_MARKERS: ReadonlySet<string> = new Set(['BEGIN', 'COMMIT', 'ROLLBACK']);

type AnyFn = (...args: unknown[]) => unknown;
type Record_ = (sql: string) => void;

/**
 * A proxy of a driver adapter object (factory, connection, transaction) recording its statements;
 * the connections and transactions it hands out are recorded too. Methods stay bound to the real
 * object, so classes with private fields keep working.
 */
function recordAdapter<T extends object>(target: T, record: Record_): T {
  return new Proxy(target, {
    get(obj, prop, receiver) {
      const value = Reflect.get(obj, prop, receiver) as unknown;
      if (typeof value !== 'function') return value;
      const fn = value as AnyFn;
      switch (prop) {
        case 'queryRaw':
        case 'executeRaw':
          return (query: { sql: string }, ...rest: unknown[]) => {
            record(query.sql);
            return fn.call(obj, query, ...rest);
          };
        case 'executeScript':
          return (script: string, ...rest: unknown[]) => {
            record(script);
            return fn.call(obj, script, ...rest);
          };
        case 'startTransaction':
          return async (...args: unknown[]) => {
            record('BEGIN');
            return recordAdapter((await fn.apply(obj, args)) as object, record);
          };
        case 'commit':
        case 'rollback':
          return (...args: unknown[]) => {
            record(String(prop).toUpperCase());
            return fn.apply(obj, args);
          };
        case 'connect':
          return async (...args: unknown[]) => recordAdapter((await fn.apply(obj, args)) as object, record);
        default:
          return fn.bind(obj);
      }
    },
  });
}

function recordExec<Q extends Queryable>(queryable: Q, record: Record_): Queryable {
  return {
    exec: (sql: string, params?: readonly unknown[]) => {
      record(sql);
      return queryable.exec(sql, params);
    },
  } as Queryable;
}

/** Runs `body` inside a transaction whose statements and markers are recorded. */
async function recordTransaction<T>(
  open: (body: (tx: Queryable) => Promise<T>) => Promise<T>,
  body: (tx: Queryable) => Promise<T>,
  record: Record_,
): Promise<T> {
  record('BEGIN');
  try {
    const result = await open((tx) => body(recordExec(tx, record)));
    record('COMMIT');
    return result;
  } catch (error) {
    record('ROLLBACK');
    throw error;
  }
}

/** `db` with every statement recorded in the returned log; closing it closes the original. */
export function recordQueries(
  db: Database,
  options: RecordQueriesOptions = {},
): { db: Database; log: QueryLog } {
  const statements: string[] = [];
  const when = options.when ?? (() => true);
  const keep = options.onStatement ?? ((sql: string) => statements.push(sql));
  const record: Record_ = (sql) => {
    if (when()) keep(sql);
  };
  const recorded: Database = {
    kind: db.kind,
    adapter: recordAdapter(db.adapter, record),
    exec: (sql, params) => {
      record(sql);
      return db.exec(sql, params);
    },
    transaction: (fn) => recordTransaction((body) => db.transaction(body), fn, record),
    session: (fn) =>
      db.session((session) =>
        fn({
          kind: session.kind,
          ...recordExec(session, record),
          transaction: (inner) => recordTransaction((body) => session.transaction(body), inner, record),
        } satisfies Session),
      ),
    ping: () => db.ping(),
    close: () => db.close(),
  };
  return {
    db: recorded,
    log: {
      statements,
      clear: () => {
        statements.length = 0;
      },
    },
  };
}
