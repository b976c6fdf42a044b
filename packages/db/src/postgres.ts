import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import type { Database, DatabaseLogger, Queryable, Session } from './types.js';

const DEFAULT_POOL_SIZE = 10;

export interface PostgresOptions {
  url: string;
  poolSize?: number;
  logger?: DatabaseLogger;
}

/**
 * One `pg` pool shared by Prisma (through `PrismaPg`) and our own SQL, so the process never holds
 * more than `poolSize` connections. The pool is ours: `PrismaClient.$disconnect()` leaves it open
 * (adapter-pg only ends external pools with `disposeExternalPool`), `Database.close()` ends it.
 */
export function openPostgresDatabase(options: PostgresOptions): Database {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize ?? DEFAULT_POOL_SIZE,
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
  });
  // An idle client's error (server restart, network cut) is emitted on the pool; unhandled, it kills
  // the process. The pool drops that client and the next query connects anew.
  pool.on('error', (err) => {
    options.logger?.warn({ event: 'db.pool_error', err }, 'idle PostgreSQL connection failed');
  });
  const adapter = new PrismaPg(pool);
  let closed: Promise<void> | undefined;

  const transactionOn = async <T>(client: pg.PoolClient, fn: (tx: Queryable) => Promise<T>): Promise<T> => {
    await client.query('BEGIN');
    let result: T;
    try {
      result = await fn(clientQueryable(client));
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackError) {
        throw new BrokenConnection(err, rollbackError);
      }
      throw err;
    }
    await client.query('COMMIT');
    return result;
  };

  /**
   * Checks a client out for `fn`. A connection whose state is unknown (a failed ROLLBACK, or a
   * session whose `fn` threw while it may still hold an advisory lock) is destroyed, not pooled.
   */
  const withClient = async <T>(
    fn: (client: pg.PoolClient) => Promise<T>,
    destroyOnError: boolean,
  ): Promise<T> => {
    const client = await pool.connect();
    let destroy: Error | undefined;
    try {
      return await fn(client);
    } catch (err) {
      if (err instanceof BrokenConnection) {
        destroy = err;
        throw err.original;
      }
      if (destroyOnError) destroy = err instanceof Error ? err : new Error(String(err));
      throw err;
    } finally {
      client.release(destroy);
    }
  };

  return {
    kind: 'postgres',
    adapter,
    exec: (sql, params) => runQuery(pool, sql, params),
    transaction: (fn) => withClient((client) => transactionOn(client, fn), false),
    session: (fn) =>
      withClient((client) => {
        const session: Session = {
          kind: 'postgres',
          exec: clientQueryable(client).exec,
          transaction: (inner) => transactionOn(client, inner),
        };
        return fn(session);
      }, true),
    ping: async () => {
      try {
        await pool.query('SELECT 1');
        return true;
      } catch {
        return false;
      }
    },
    close: () => {
      closed ??= pool.end();
      return closed;
    },
  };
}

function clientQueryable(client: pg.PoolClient): Queryable {
  return { exec: (sql, params) => runQuery(client, sql, params) };
}

async function runQuery<R extends object>(
  target: pg.Pool | pg.PoolClient,
  sql: string,
  params?: readonly unknown[],
): Promise<R[]> {
  // Without values pg uses the simple protocol, which accepts several statements and answers with
  // one result per statement.
  const result = params === undefined ? await target.query(sql) : await target.query(sql, [...params]);
  const results = result as unknown as pg.QueryResult | pg.QueryResult[];
  const last = Array.isArray(results) ? results.at(-1) : results;
  return (last?.rows ?? []) as R[];
}

/** Carries the caller's error out of a transaction whose ROLLBACK failed too. */
class BrokenConnection extends Error {
  constructor(
    readonly original: unknown,
    rollbackError: unknown,
  ) {
    super('ROLLBACK failed; the connection is discarded', { cause: rollbackError });
  }
}
