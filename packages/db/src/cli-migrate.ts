import { resolve } from 'node:path';
import { applyMigrations, isMigrationStatusReady, MigrationError, migrationStatus } from './migrations.js';
import { openDatabase } from './open-database.js';
import type { DatabaseLogger } from './types.js';

const USAGE = `usage: aauth-migrate <migrationsDir> [--status]

Applies the pending Prisma migrations in <migrationsDir> (each in one transaction, recorded in
_prisma_migrations exactly as \`prisma migrate deploy\` records them) to DATABASE_URL, or to the
embedded PGlite database in DATA_DIR when DATABASE_URL is unset.
  --status   print applied/pending/modified/failed and exit 1 unless the database is up to date`;

/**
 * Progress goes to stderr as one JSON object per line, like the servers' pino output; stdout carries
 * only the result (`{"applied":[…]}` or the status), so scripts can parse it.
 */
const logger: DatabaseLogger = {
  info: (obj, msg) => process.stderr.write(`${JSON.stringify({ level: 'info', ...obj, msg })}\n`),
  warn: (obj, msg) => process.stderr.write(`${JSON.stringify({ level: 'warn', ...obj, msg })}\n`),
};

export async function runMigrateCli(argv: readonly string[]): Promise<number> {
  const args = argv.filter((arg) => !arg.startsWith('--'));
  const flags = new Set(argv.filter((arg) => arg.startsWith('--')));
  const unknown = [...flags].filter((flag) => flag !== '--status');
  if (args.length !== 1 || unknown.length > 0 || flags.has('--help')) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const migrationsDir = resolve(args[0] as string);
  const url = process.env.DATABASE_URL;
  const dataDir = process.env.DATA_DIR;
  if ((url === undefined || url === '') && (dataDir === undefined || dataDir === '')) {
    process.stderr.write('aauth-migrate: set DATABASE_URL (PostgreSQL) or DATA_DIR (embedded PGlite)\n');
    return 2;
  }
  const db = await openDatabase({ url, dataDir, logger, poolSize: 1 });
  try {
    if (flags.has('--status')) {
      const status = await migrationStatus(db, migrationsDir);
      process.stdout.write(`${JSON.stringify(status)}\n`);
      return isMigrationStatusReady(status) ? 0 : 1;
    }
    const { applied } = await applyMigrations(db, migrationsDir, { logger });
    logger.info(
      { event: 'db.migrations_done', applied },
      applied.length === 0 ? 'database up to date' : 'migrations applied',
    );
    process.stdout.write(`${JSON.stringify({ applied })}\n`);
    return 0;
  } catch (err) {
    const detail =
      err instanceof MigrationError
        ? { code: err.code, migrations: err.migrations, message: err.message }
        : { message: err instanceof Error ? err.message : String(err) };
    logger.warn({ event: 'db.migrations_failed', ...detail }, 'migration run failed');
    return 1;
  } finally {
    await db.close();
  }
}
