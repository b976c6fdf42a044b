import { applyMigrations, openServerDatabase } from '@aauth-ref/db';
import { formatEnvReference, isHelpRequested, reportStartupFailure, runServer } from '@aauth-ref/fastify';
import { buildApp, MIGRATIONS_DIR } from './app.js';
import { loadConfig, PERSON_SERVER_NAME, personServerConfigOptions } from './config.js';
import { loadKeyRings } from './open.js';
import { DEMO_PERSONS, seedDemoPersons } from './seed.js';
import { createPrismaClient } from './stores/prisma.js';
import { createPrismaPersonStore } from './stores/prisma-persons.js';

/**
 * Start-up: configuration, database, migrations, keys, (dev) demo persons, listen. The server applies
 * its own committed migrations at start (under Prisma's advisory lock, so several instances starting
 * together apply them once); deployments that prefer a separate step run `pnpm migrate` first and the
 * start-up run finds nothing to do.
 */
async function main(): Promise<void> {
  if (isHelpRequested()) {
    process.stdout.write(formatEnvReference(personServerConfigOptions()));
    return;
  }
  const config = loadConfig();
  const database = await openServerDatabase(config);
  try {
    await applyMigrations(database, MIGRATIONS_DIR);
    const generated: string[] = [];
    const rings = await loadKeyRings(config, (path) => generated.push(path));
    const prisma = createPrismaClient(database);
    let seeded: string[] = [];
    if (config.SEED_DEMO_PERSONS) seeded = await seedDemoPersons(createPrismaPersonStore(prisma));
    await runServer({
      name: PERSON_SERVER_NAME,
      config,
      build: async () => {
        const app = await buildApp(config, { database, prisma, ...rings });
        for (const path of generated)
          app.log.warn({ event: 'keys.generated', path }, 'development signing keys generated');
        if (config.SEED_DEMO_PERSONS) {
          app.log.warn(
            { event: 'persons.seeded', created: seeded, usernames: DEMO_PERSONS.map((p) => p.username) },
            'demo persons alice and bob are available (passwords in the README)',
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
