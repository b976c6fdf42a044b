import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  applyMigrations,
  computeChecksum,
  isMigrationStatusReady,
  MigrationError,
  migrationStatus,
  readMigrations,
  scriptMatchesChecksum,
} from '../src/index.js';
import { openDatabase } from '../src/open-database.js';
import {
  createEmptyTestDatabase,
  deployWithPrismaEngine,
  diagnoseWithPrismaEngine,
  type TestDatabase,
} from '../src/testing.js';
import { backends, copyFixtureMigrations, fixtureMigrationsDir } from './helpers.js';

const INIT = '20261129100226_init';
const DISPLAY_NAME = '20261129100301_add_display_name';

describe('readMigrations', () => {
  it('lists migration folders by name and skips migration_lock.toml', async () => {
    const files = await readMigrations(fixtureMigrationsDir);
    expect(files.map((file) => file.name)).toEqual([INIT, DISPLAY_NAME]);
    const bytes = await readFile(join(fixtureMigrationsDir, INIT, 'migration.sql'));
    expect(files[0]?.checksum).toBe(computeChecksum(bytes));
    expect(files[0]?.checksum).toMatch(/^[0-9a-f]{64}$/);
  });

  it('rejects a migration folder without migration.sql', async () => {
    const copy = await copyFixtureMigrations();
    try {
      await mkdir(join(copy.dir, '20990101000000_empty'));
      await expect(readMigrations(copy.dir)).rejects.toMatchObject({ code: 'invalid_directory' });
    } finally {
      await copy.remove();
    }
  });
});

describe('scriptMatchesChecksum', () => {
  it('accepts the script with its line endings converted either way, as Prisma does', () => {
    const lf = 'CREATE TABLE a (id int);\nCREATE TABLE b (id int);\n';
    const crlf = lf.replaceAll('\n', '\r\n');
    expect(scriptMatchesChecksum(lf, computeChecksum(lf))).toBe(true);
    expect(scriptMatchesChecksum(crlf, computeChecksum(lf))).toBe(true);
    expect(scriptMatchesChecksum(lf, computeChecksum(crlf))).toBe(true);
    expect(scriptMatchesChecksum(`${lf} `, computeChecksum(lf))).toBe(false);
  });

  it('accepts the unpadded hex that old Prisma versions stored', () => {
    const script = 'SELECT 1;';
    const legacy = [...Buffer.from(computeChecksum(script), 'hex')].map((byte) => byte.toString(16)).join('');
    if (legacy.length === 64) return; // no byte below 0x10 in this digest: nothing to distinguish
    expect(scriptMatchesChecksum(script, legacy)).toBe(true);
  });
});

describe.each(backends)('applyMigrations on $name', ({ url }) => {
  let test: TestDatabase | undefined;
  afterEach(async () => {
    await test?.drop();
    test = undefined;
  });

  it('applies every migration once and writes the rows Prisma writes', async () => {
    test = await createEmptyTestDatabase({ url });
    const { db } = test;
    expect(await migrationStatus(db, fixtureMigrationsDir)).toEqual({
      applied: [],
      pending: [INIT, DISPLAY_NAME],
      modified: [],
      failed: [],
    });

    expect(await applyMigrations(db, fixtureMigrationsDir)).toEqual({ applied: [INIT, DISPLAY_NAME] });
    expect(await applyMigrations(db, fixtureMigrationsDir)).toEqual({ applied: [] });

    const status = await migrationStatus(db, fixtureMigrationsDir);
    expect(status).toEqual({ applied: [INIT, DISPLAY_NAME], pending: [], modified: [], failed: [] });
    expect(isMigrationStatusReady(status)).toBe(true);

    const files = await readMigrations(fixtureMigrationsDir);
    const rows = await db.exec<Record<string, unknown>>(
      'SELECT * FROM _prisma_migrations ORDER BY migration_name',
    );
    expect(rows).toHaveLength(2);
    rows.forEach((row, i) => {
      expect(row.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(row.checksum).toBe(files[i]?.checksum);
      expect(row.migration_name).toBe(files[i]?.name);
      expect(row.logs).toBeNull();
      expect(row.rolled_back_at).toBeNull();
      expect(row.applied_steps_count).toBe(1);
      expect(row.started_at).toBeInstanceOf(Date);
      expect(row.finished_at).toBeInstanceOf(Date);
      expect((row.finished_at as Date).getTime()).toBeGreaterThanOrEqual((row.started_at as Date).getTime());
    });

    // The migrated schema is really there.
    const [column] = await db.exec<{ data_type: string }>(
      `SELECT data_type FROM information_schema.columns WHERE table_name = 'accounts' AND column_name = 'display_name'`,
    );
    expect(column?.data_type).toBe('text');
  });

  it('creates _prisma_migrations with the same columns as Prisma’s schema engine', async () => {
    test = await createEmptyTestDatabase({ url });
    const ours = test.db;
    await applyMigrations(ours, fixtureMigrationsDir);
    const prisma = await createEmptyTestDatabase({ url });
    try {
      expect(await deployWithPrismaEngine(prisma.db, fixtureMigrationsDir)).toEqual([INIT, DISPLAY_NAME]);
      const describeTable = `SELECT column_name, data_type, character_maximum_length, is_nullable, column_default
        FROM information_schema.columns WHERE table_name = '_prisma_migrations' ORDER BY ordinal_position`;
      const constraints = `SELECT c.contype, a.attname FROM pg_constraint c
        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
        WHERE c.conrelid = '_prisma_migrations'::regclass ORDER BY c.contype, a.attname`;
      expect(await ours.exec(describeTable)).toEqual(await prisma.db.exec(describeTable));
      expect(await ours.exec(constraints)).toEqual(await prisma.db.exec(constraints));
      const rowShape = `SELECT migration_name, checksum, logs, rolled_back_at, applied_steps_count,
        finished_at IS NOT NULL AS finished, length(id) AS id_length FROM _prisma_migrations ORDER BY migration_name`;
      expect(await ours.exec(rowShape)).toEqual(await prisma.db.exec(rowShape));
    } finally {
      await prisma.drop();
    }
  });

  it('is reported up to date by Prisma’s own engine, and Prisma sees our pending migration', async () => {
    test = await createEmptyTestDatabase({ url });
    const copy = await copyFixtureMigrations();
    try {
      await applyMigrations(test.db, copy.dir);
      const diagnosis = await diagnoseWithPrismaEngine(test.db, copy.dir);
      expect(diagnosis).toMatchObject({
        editedMigrationNames: [],
        failedMigrationNames: [],
        hasMigrationsTable: true,
        history: null,
      });
      await writeNewMigration(
        copy.dir,
        '20991231000000_add_notes_title',
        'ALTER TABLE "notes" ADD COLUMN "title" TEXT;\n',
      );
      expect((await diagnoseWithPrismaEngine(test.db, copy.dir)).history).toEqual({
        diagnostic: 'databaseIsBehind',
        unappliedMigrationNames: ['20991231000000_add_notes_title'],
      });
      // And Prisma's `migrate deploy` continues from where our runner stopped.
      expect(await deployWithPrismaEngine(test.db, copy.dir)).toEqual(['20991231000000_add_notes_title']);
      expect(await migrationStatus(test.db, copy.dir)).toMatchObject({
        pending: [],
        modified: [],
        failed: [],
      });
    } finally {
      await copy.remove();
    }
  });

  it('applies only the pending migrations', async () => {
    test = await createEmptyTestDatabase({ url });
    const copy = await copyFixtureMigrations();
    try {
      await applyMigrations(test.db, copy.dir);
      await writeNewMigration(
        copy.dir,
        '20991231000000_add_notes_title',
        'ALTER TABLE "notes" ADD COLUMN "title" TEXT;\n',
      );
      expect((await migrationStatus(test.db, copy.dir)).pending).toEqual(['20991231000000_add_notes_title']);
      expect(await applyMigrations(test.db, copy.dir)).toEqual({
        applied: ['20991231000000_add_notes_title'],
      });
    } finally {
      await copy.remove();
    }
  });

  it('refuses to run when an applied migration was edited', async () => {
    test = await createEmptyTestDatabase({ url });
    const copy = await copyFixtureMigrations();
    try {
      await applyMigrations(test.db, copy.dir);
      const file = join(copy.dir, INIT, 'migration.sql');
      await writeFile(file, `${await readFile(file, 'utf8')}\n-- edited after it landed\n`);
      await writeNewMigration(
        copy.dir,
        '20991231000000_add_notes_title',
        'ALTER TABLE "notes" ADD COLUMN "title" TEXT;\n',
      );

      const error = await applyMigrations(test.db, copy.dir).catch((err: unknown) => err);
      expect(error).toBeInstanceOf(MigrationError);
      expect(error).toMatchObject({ code: 'modified', migrations: [INIT] });
      expect((error as Error).message).toContain(`${INIT} no longer match`);
      // Nothing else ran.
      const status = await migrationStatus(test.db, copy.dir);
      expect(status).toEqual({
        applied: [DISPLAY_NAME],
        pending: ['20991231000000_add_notes_title'],
        modified: [INIT],
        failed: [],
      });
      expect(isMigrationStatusReady(status)).toBe(false);
      // Prisma's engine agrees that the file was edited.
      expect((await diagnoseWithPrismaEngine(test.db, copy.dir)).editedMigrationNames).toEqual([INIT]);
    } finally {
      await copy.remove();
    }
  });

  it('rolls a failing migration back whole, records nothing, and applies it once fixed', async () => {
    test = await createEmptyTestDatabase({ url });
    const copy = await copyFixtureMigrations();
    try {
      await applyMigrations(test.db, copy.dir);
      const broken = '20991231000000_broken';
      await writeNewMigration(
        copy.dir,
        broken,
        'CREATE TABLE "half" (id int);\nSELECT no_such_function();\n',
      );
      const error = await applyMigrations(test.db, copy.dir).catch((err: unknown) => err);
      expect(error).toMatchObject({ code: 'apply_failed', migrations: [broken] });
      expect(await test.db.exec(`SELECT to_regclass('half') AS t`)).toEqual([{ t: null }]);
      expect((await migrationStatus(test.db, copy.dir)).pending).toEqual([broken]);

      await writeFile(join(copy.dir, broken, 'migration.sql'), 'CREATE TABLE "half" (id int);\n');
      expect(await applyMigrations(test.db, copy.dir)).toEqual({ applied: [broken] });
    } finally {
      await copy.remove();
    }
  });

  it('refuses to run over a migration Prisma left failed', async () => {
    test = await createEmptyTestDatabase({ url });
    await applyMigrations(test.db, fixtureMigrationsDir);
    await test.db.exec(
      'UPDATE _prisma_migrations SET finished_at = NULL, logs = $1 WHERE migration_name = $2',
      ['boom', DISPLAY_NAME],
    );
    expect(await migrationStatus(test.db, fixtureMigrationsDir)).toMatchObject({ failed: [DISPLAY_NAME] });
    await expect(applyMigrations(test.db, fixtureMigrationsDir)).rejects.toMatchObject({
      code: 'failed',
      migrations: [DISPLAY_NAME],
    });
    // `prisma migrate resolve --rolled-back` makes it pending again.
    await test.db.exec('UPDATE _prisma_migrations SET rolled_back_at = now() WHERE migration_name = $1', [
      DISPLAY_NAME,
    ]);
    await test.db.exec('ALTER TABLE accounts DROP COLUMN display_name');
    expect(await applyMigrations(test.db, fixtureMigrationsDir)).toEqual({ applied: [DISPLAY_NAME] });
  });

  it('serializes two runs started at once: each migration is applied exactly once', async () => {
    test = await createEmptyTestDatabase({ url });
    // Two handles on the same database, as two server instances starting together would have.
    const other = test.url === undefined ? test.db : await openDatabase({ url: test.url, poolSize: 2 });
    try {
      const [first, second] = await Promise.all([
        applyMigrations(test.db, fixtureMigrationsDir),
        applyMigrations(other, fixtureMigrationsDir),
      ]);
      expect([...first.applied, ...second.applied].sort()).toEqual([INIT, DISPLAY_NAME]);
      expect([first.applied.length, second.applied.length].sort()).toEqual([0, 2]);
      const [count] = await test.db.exec<{ n: number }>('SELECT count(*)::int AS n FROM _prisma_migrations');
      expect(count?.n).toBe(2);
    } finally {
      if (other !== test.db) await other.close();
    }
  });
});

describe.skipIf(backends.length < 2)('advisory lock on PostgreSQL', () => {
  it('waits for the lock held by `prisma migrate deploy` (or another runner) and times out clearly', async () => {
    const url = backends[1]?.url;
    const test = await createEmptyTestDatabase({ url });
    try {
      const holder = await openDatabase({ url: test.url!, poolSize: 1 });
      try {
        await holder.session(async (session) => {
          await session.exec('SELECT pg_advisory_lock(72707369)');
          const error = await applyMigrations(test.db, fixtureMigrationsDir, { lockTimeoutMs: 300 }).catch(
            (err: unknown) => err,
          );
          expect(error).toMatchObject({ code: 'lock_timeout' });
          await session.exec('SELECT pg_advisory_unlock(72707369)');
        });
      } finally {
        await holder.close();
      }
      expect(await applyMigrations(test.db, fixtureMigrationsDir)).toEqual({ applied: [INIT, DISPLAY_NAME] });
    } finally {
      await test.drop();
    }
  });
});

async function writeNewMigration(dir: string, name: string, sql: string): Promise<void> {
  await mkdir(join(dir, name));
  await writeFile(join(dir, name, 'migration.sql'), sql);
}
