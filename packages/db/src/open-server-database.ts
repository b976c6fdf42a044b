import { join } from 'node:path';
import { openDatabase } from './open-database.js';
import type { Database } from './types.js';

/**
 * A server's configured database (ARCHITECTURE.md *Data ownership*): PostgreSQL at `DATABASE_URL`,
 * else embedded PGlite under `DATA_DIR/db`, so the stack runs on a fresh machine with only Node.
 */
export function openServerDatabase(config: {
  readonly DATABASE_URL?: string | undefined;
  readonly DATA_DIR: string;
}): Promise<Database> {
  return config.DATABASE_URL
    ? openDatabase({ url: config.DATABASE_URL })
    : openDatabase({ dataDir: join(config.DATA_DIR, 'db') });
}
