import { applyMigrations, openServerDatabase } from '@aauth-ref/db';
import {
  formatEnvReference,
  isHelpRequested,
  loadKeyRing,
  reportStartupFailure,
  runServer,
} from '@aauth-ref/fastify';
import { buildApp, MIGRATIONS_DIR } from './app.js';
import { loadConfig, RESOURCE_SERVER_NAME, resourceServerConfigOptions } from './config.js';
import { DEMO_USERS, seedDemoUsers } from './seed.js';
import { createPrismaClient } from './stores/prisma.js';
import { createPrismaUserStore } from './stores/prisma-users.js';

/**
 * Start-up: configuration, database, migrations, keys, listen. The server applies its own committed
 * migrations at start (under Prisma's advisory lock, so instances starting together apply them once);
 * deployments that prefer a separate step run `pnpm migrate` first and the start-up run finds nothing.
 */
async function main(): Promise<void> {
  if (isHelpRequested()) {
    process.stdout.write(formatEnvReference(resourceServerConfigOptions()));
    return;
  }
  const config = loadConfig();
  const database = await openServerDatabase(config);
  try {
    await applyMigrations(database, MIGRATIONS_DIR);
    const generated: string[] = [];
    const keys = await loadKeyRing({ ...config, onGenerated: (path) => generated.push(path) });
    const prisma = createPrismaClient(database);
    const seeded = config.SEED_DEMO_USERS ? await seedDemoUsers(createPrismaUserStore(prisma)) : [];
    await runServer({
      name: RESOURCE_SERVER_NAME,
      config,
      build: async () => {
        const app = await buildApp(config, { database, prisma, keys });
        for (const path of generated)
          app.log.warn({ event: 'keys.generated', path }, 'development signing keys generated');
        if (config.SEED_DEMO_USERS) {
          app.log.warn(
            { event: 'users.seeded', created: seeded, usernames: DEMO_USERS.map((u) => u.username) },
            'demo accounts carol and dave are available (passwords in the README)',
          );
        }
        app.addHook('onClose', async () => prisma.$disconnect());
        return app;
      },
    });
  } catch (err) {
    await database.close().catch(() => undefined);
    throw err;
  }
}

main().catch((err: unknown) => {
  // A ConfigError prints as its list of problems, anything else with its stack.
  reportStartupFailure(err);
  process.exit(1);
});
