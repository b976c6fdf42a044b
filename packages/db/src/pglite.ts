import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import type { Database, DatabaseLogger, Queryable, Session } from './types.js';

export interface PgliteOptions {
  /** Data folder; omitted means in memory. */
  dataDir?: string;
  /** An already open instance (a clone of a migrated template in tests). */
  instance?: PGlite;
  logger?: DatabaseLogger;
}

interface SharedInstance {
  ready: Promise<PGlite>;
  users: number;
  /** PGlite has one session: this serializes users that need it to themselves (migrations). */
  mutex: Mutex;
}

/**
 * PGlite holds its data folder exclusively and runs one Postgres session, so a process keeps one
 * instance per data folder and every `openDatabase` on that folder shares it. Prisma's interactive
 * transactions go through PGlite's own transaction mutex: while one is open every other query waits.
 */
const sharedByDataDir = new Map<string, SharedInstance>();

/** PGlite creates only the last path segment of its data folder; a fresh checkout has none of it. */
async function createPglite(dataDir: string | undefined): Promise<PGlite> {
  if (dataDir === undefined) return PGlite.create({});
  await mkdir(dirname(dataDir), { recursive: true, mode: 0o700 });
  return PGlite.create({ dataDir });
}

export async function openPgliteDatabase(options: PgliteOptions): Promise<Database> {
  const key = options.dataDir === undefined ? undefined : resolve(options.dataDir);
  let shared = key === undefined ? undefined : sharedByDataDir.get(key);
  if (shared === undefined) {
    const ready = options.instance !== undefined ? Promise.resolve(options.instance) : createPglite(key);
    shared = { ready, users: 0, mutex: new Mutex() };
    if (key !== undefined) sharedByDataDir.set(key, shared);
  }
  shared.users += 1;
  let pglite: PGlite;
  try {
    pglite = await shared.ready;
  } catch (err) {
    shared.users -= 1;
    if (key !== undefined && shared.users === 0) sharedByDataDir.delete(key);
    throw err;
  }
  if (key !== undefined) {
    options.logger?.info({ event: 'db.pglite_open', dataDir: key }, 'embedded PGlite database opened');
  }
  return wrapPglite(pglite, shared, key);
}

function wrapPglite(pglite: PGlite, shared: SharedInstance, key: string | undefined): Database {
  const adapter = new PrismaPGlite(pglite);
  const queryable = pgliteQueryable(pglite);
  const transaction = <T>(fn: (tx: Queryable) => Promise<T>): Promise<T> =>
    pglite.transaction((tx) => fn(pgliteQueryable(tx)));
  let closed: Promise<void> | undefined;

  return {
    kind: 'pglite',
    adapter,
    exec: queryable.exec,
    transaction,
    session: (fn) => {
      const session: Session = { kind: 'pglite', exec: queryable.exec, transaction };
      return shared.mutex.run(() => fn(session));
    },
    ping: async () => {
      try {
        await pglite.query('SELECT 1');
        return true;
      } catch {
        return false;
      }
    },
    close: () => {
      closed ??= (async () => {
        shared.users -= 1;
        if (shared.users > 0) return;
        if (key !== undefined) sharedByDataDir.delete(key);
        if (!pglite.closed) await pglite.close();
      })();
      return closed;
    },
  };
}

function pgliteQueryable(target: PGlite | Transaction): Queryable {
  return {
    exec: async <R extends object>(sql: string, params?: readonly unknown[]) => {
      if (params !== undefined) return (await target.query<R>(sql, [...params])).rows;
      const results = await target.exec(sql);
      return (results.at(-1)?.rows ?? []) as R[];
    },
  };
}

/** A promise-chain mutex: callers run one at a time, in arrival order. */
class Mutex {
  #tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(fn);
    this.#tail = result.catch(() => undefined);
    return result;
  }
}
