import { applyMigrations, openServerDatabase } from '@aauth-ref/db';
import { MIGRATIONS_DIR } from './app.js';
import { loadConfig } from './config.js';

/** `pnpm migrate`: applies the committed migrations and exits (a one-shot job before the servers). */
const config = loadConfig();
const database = await openServerDatabase(config);
try {
  const { applied } = await applyMigrations(database, MIGRATIONS_DIR);
  process.stdout.write(
    applied.length === 0 ? 'database is up to date\n' : `applied: ${applied.join(', ')}\n`,
  );
} finally {
  await database.close();
}
