import { openPgliteDatabase } from './pglite.js';
import { openPostgresDatabase } from './postgres.js';
import type { Database, OpenDatabaseOptions } from './types.js';

/**
 * PostgreSQL when `url` is given, else embedded PGlite kept under `dataDir` (or in memory with
 * `memory: true`). One of `url`, `dataDir`, `memory` is required, so a server never silently runs
 * on a throwaway database.
 */
export async function openDatabase(options: OpenDatabaseOptions): Promise<Database> {
  if (options.url !== undefined && options.url !== '') {
    return openPostgresDatabase({
      url: options.url,
      ...(options.poolSize === undefined ? {} : { poolSize: options.poolSize }),
      ...(options.logger === undefined ? {} : { logger: options.logger }),
    });
  }
  if (options.memory === true) {
    return openPgliteDatabase(options.logger === undefined ? {} : { logger: options.logger });
  }
  if (options.dataDir !== undefined && options.dataDir !== '') {
    return openPgliteDatabase({
      dataDir: options.dataDir,
      ...(options.logger === undefined ? {} : { logger: options.logger }),
    });
  }
  throw new TypeError('openDatabase needs a PostgreSQL `url`, a PGlite `dataDir`, or `memory: true`');
}
