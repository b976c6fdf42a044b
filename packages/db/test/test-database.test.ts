import { randomBytes } from 'node:crypto';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { migrationStatus } from '../src/index.js';
import {
  createTestDatabase,
  pgliteImagePath,
  type TestDatabase,
  templateDatabaseName,
} from '../src/testing.js';
import { PrismaClient } from './fixture/generated/prisma/client.js';
import { copyFixtureMigrations, fixtureMigrationsDir, postgresUrl } from './helpers.js';

describe('createTestDatabase', () => {
  const opened: TestDatabase[] = [];
  afterAll(async () => {
    await Promise.all(opened.map((test) => test.drop()));
  });

  it('gives parallel callers migrated databases that do not see each other’s rows', async () => {
    const started = performance.now();
    const [a, b] = await Promise.all([
      createTestDatabase({ migrationsDir: fixtureMigrationsDir }),
      createTestDatabase({ migrationsDir: fixtureMigrationsDir }),
    ]);
    opened.push(a, b);
    const elapsed = performance.now() - started;
    process.stdout.write(`createTestDatabase x2 (${a.db.kind}): ${elapsed.toFixed(0)} ms\n`);

    for (const test of [a, b]) {
      expect(await migrationStatus(test.db, fixtureMigrationsDir)).toMatchObject({
        pending: [],
        modified: [],
      });
    }
    const prismaA = new PrismaClient({ adapter: a.db.adapter });
    const prismaB = new PrismaClient({ adapter: b.db.adapter });
    try {
      await Promise.all([
        prismaA.account.create({ data: { handle: 'only-in-a' } }),
        prismaB.account.create({ data: { handle: 'only-in-b' } }),
      ]);
      expect((await prismaA.account.findMany()).map((row) => row.handle)).toEqual(['only-in-a']);
      expect((await prismaB.account.findMany()).map((row) => row.handle)).toEqual(['only-in-b']);
    } finally {
      await Promise.all([prismaA.$disconnect(), prismaB.$disconnect()]);
    }
    if (postgresUrl !== undefined) {
      expect(a.url).not.toBe(b.url);
      expect(new URL(a.url!).pathname).toMatch(/^\/aauth_t_[0-9a-f]{16}$/);
    } else {
      expect(a.url).toBeUndefined();
    }
  });

  it('names the template after the migrations', async () => {
    expect(await templateDatabaseName(fixtureMigrationsDir)).toMatch(/^aauth_tpl_[0-9a-f]{12}$/);
  });

  it.skipIf(postgresUrl === undefined)(
    'clones from a template that nobody can connect to, and drop() removes the clone',
    async () => {
      const started = performance.now();
      const test = await createTestDatabase({ migrationsDir: fixtureMigrationsDir });
      process.stdout.write(
        `createTestDatabase from warm template: ${(performance.now() - started).toFixed(0)} ms\n`,
      );
      const name = new URL(test.url!).pathname.slice(1);
      const admin = new pg.Client({ connectionString: postgresUrl });
      await admin.connect();
      try {
        const template = await templateDatabaseName(fixtureMigrationsDir);
        const { rows } = await admin.query(
          'SELECT datistemplate, datallowconn FROM pg_database WHERE datname = $1',
          [template],
        );
        expect(rows).toEqual([{ datistemplate: true, datallowconn: false }]);
        await test.drop();
        await test.drop(); // idempotent
        const gone = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
        expect(gone.rowCount).toBe(0);
      } finally {
        await admin.end();
      }
    },
  );

  it('builds the migrated template once when several callers start cold at the same moment', async () => {
    // A migration set nobody has built yet: its own template (PostgreSQL) or image (PGlite).
    const copy = await copyFixtureMigrations();
    const unique = `20991231000000_unique_${randomBytes(4).toString('hex')}`;
    await mkdir(join(copy.dir, unique));
    await writeFile(join(copy.dir, unique, 'migration.sql'), 'CREATE TABLE "marker" (id int);\n');
    const template = await templateDatabaseName(copy.dir);
    const image = await pgliteImagePath(copy.dir);
    const started = performance.now();
    const tests = await Promise.all(
      Array.from({ length: 3 }, () => createTestDatabase({ migrationsDir: copy.dir })),
    );
    const cold = performance.now() - started;
    try {
      const warmStart = performance.now();
      tests.push(await createTestDatabase({ migrationsDir: copy.dir }));
      const warm = performance.now() - warmStart;
      process.stdout.write(
        `${tests[0]?.db.kind}: 3 parallel cold createTestDatabase ${cold.toFixed(0)} ms, then one warm ${warm.toFixed(0)} ms\n`,
      );
      for (const test of tests) {
        expect(await migrationStatus(test.db, copy.dir)).toMatchObject({
          pending: [],
          modified: [],
          failed: [],
        });
        expect(await test.db.exec('SELECT count(*)::int AS n FROM _prisma_migrations')).toEqual([{ n: 3 }]);
      }
      if (postgresUrl === undefined) {
        expect((await stat(image)).size).toBeGreaterThan(0);
      }
    } finally {
      await Promise.all(tests.map((test) => test.drop()));
      await copy.remove();
      if (postgresUrl === undefined) {
        await rm(image, { force: true });
      } else {
        const admin = new pg.Client({ connectionString: postgresUrl });
        await admin.connect();
        await admin.query(`ALTER DATABASE ${template} WITH IS_TEMPLATE false`);
        await admin.query(`DROP DATABASE ${template}`);
        await admin.end();
      }
    }
  });
});
