import { join } from 'node:path';
import { type Database, openDatabase } from '@aauth-ref/db';
import { type KeyRing, loadKeyRing } from '@aauth-ref/fastify';
import type { AuthServerConfig } from './config.js';

/** The configured database: PostgreSQL at DATABASE_URL, else embedded PGlite under DATA_DIR/db. */
export function openConfiguredDatabase(config: AuthServerConfig): Promise<Database> {
  return config.DATABASE_URL
    ? openDatabase({ url: config.DATABASE_URL })
    : openDatabase({ dataDir: join(config.DATA_DIR, 'db') });
}

/** `SIGNING_KEYS`, generated into DATA_DIR/signing-keys.json in dev mode when absent. */
export function loadSigningKeys(
  config: AuthServerConfig,
  onGenerated?: (path: string) => void,
): Promise<KeyRing> {
  return loadKeyRing({
    SIGNING_KEYS: config.SIGNING_KEYS,
    DATA_DIR: config.DATA_DIR,
    AAUTH_DEV: config.AAUTH_DEV,
    ...(onGenerated ? { onGenerated } : {}),
  });
}
