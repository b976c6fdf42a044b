import { applyMigrations, openServerDatabase } from '@aauth-ref/db';
import {
  formatEnvReference,
  isHelpRequested,
  loadKeyRing,
  reportStartupFailure,
  runServer,
} from '@aauth-ref/fastify';
import { buildApp, MIGRATIONS_DIR } from './app.js';
import { AUTH_SERVER_NAME, authServerConfigOptions, loadConfig } from './config.js';
import { seedPolicyFile } from './seed-policy.js';
import { DEMO_USERS, seedDemoUsers } from './seed-users.js';
import { createPrismaClient } from './stores/prisma.js';
import { createPrismaPersonStore } from './stores/prisma-federation.js';

/**
 * Start-up: configuration, database, migrations, keys, policy file, listen. The server applies its own
 * committed migrations at start (under Prisma's advisory lock); deployments that prefer a separate
 * step run `pnpm migrate` first and the start-up run finds nothing to do.
 */
async function main(): Promise<void> {
  if (isHelpRequested()) {
    process.stdout.write(formatEnvReference(authServerConfigOptions()));
    return;
  }
  const config = loadConfig();
  const database = await openServerDatabase(config);
  try {
    await applyMigrations(database, MIGRATIONS_DIR);
    const generated: string[] = [];
    const keys = await loadKeyRing({ ...config, onGenerated: (path) => generated.push(path) });
    const prisma = createPrismaClient(database);
    const seeded = config.SEED_DEMO_USERS ? await seedDemoUsers(createPrismaPersonStore(prisma)) : [];
    const policy = config.POLICY_FILE
      ? await seedPolicyFile(prisma, config.POLICY_FILE, config.identifierPolicy)
      : undefined;
    await runServer({
      name: AUTH_SERVER_NAME,
      config,
      build: async () => {
        const app = await buildApp(config, { database, prisma, keys });
        for (const path of generated)
          app.log.warn({ event: 'keys.generated', path }, 'development signing keys generated');
        if (config.SEED_DEMO_USERS) {
          app.log.warn(
            { event: 'users.seeded', created: seeded, usernames: DEMO_USERS.map((u) => u.username) },
            'demo accounts with published passwords are enabled (dev mode)',
          );
        }
        if (policy) {
          app.log.info(
            { event: 'policy.loaded', file: config.POLICY_FILE, resources: Object.keys(policy.resources) },
            'policy file loaded',
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
