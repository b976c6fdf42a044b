import { isMigrationStatusReady, migrationStatus } from './migrations.js';
import type { Database } from './types.js';

/**
 * `/readyz` for a server (CONVENTIONS.md *Logs, health, shutdown*): the database answers and every
 * migration in `migrationsDir` is applied, none modified or failed. Migrations only ever get applied,
 * so once ready the folder is not scanned again; the ping runs every time.
 */
export function createReadinessCheck(db: Database, migrationsDir: string): () => Promise<boolean> {
  let migrated = false;
  return async () => {
    if (!(await db.ping())) return false;
    migrated ||= isMigrationStatusReady(await migrationStatus(db, migrationsDir));
    return migrated;
  };
}
