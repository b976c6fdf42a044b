import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { migrationStatus, openDatabase } from '../src/index.js';
import { PrismaClient } from './fixture/generated/prisma/client.js';
import { fixtureMigrationsDir, postgresUrl } from './helpers.js';

const run = promisify(execFile);
const migrateBin = fileURLToPath(new URL('../bin/aauth-migrate.js', import.meta.url));

describe('openDatabase', () => {
  let dataDir: string;
  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'aauth-db-data-'));
  });
  afterEach(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('requires a url, a dataDir or memory', async () => {
    await expect(openDatabase({})).rejects.toThrow(TypeError);
    await expect(openDatabase({ url: '', dataDir: '' })).rejects.toThrow(/DATABASE_URL|url/);
  });

  it('creates a missing PGlite data folder and its parents (a fresh checkout has none)', async () => {
    const nested = join(dataDir, 'not', 'there', 'db');
    const db = await openDatabase({ dataDir: nested });
    try {
      expect(await db.ping()).toBe(true);
    } finally {
      await db.close();
    }
  });

  it('keeps PGlite data in dataDir across close and reopen', async () => {
    const first = await openDatabase({ dataDir });
    expect(first.kind).toBe('pglite');
    await first.exec('CREATE TABLE kept (v text)');
    await first.exec('INSERT INTO kept VALUES ($1)', ['survives']);
    await first.close();
    expect(await first.ping()).toBe(false);

    const again = await openDatabase({ dataDir });
    try {
      expect(await again.exec('SELECT v FROM kept')).toEqual([{ v: 'survives' }]);
    } finally {
      await again.close();
    }
  });

  it('shares one PGlite instance per dataDir and closes it with its last user', async () => {
    const [a, b] = await Promise.all([openDatabase({ dataDir }), openDatabase({ dataDir: `${dataDir}/` })]);
    await a.exec('CREATE TABLE shared (n int)');
    await b.exec('INSERT INTO shared VALUES (1)');
    expect(await a.exec('SELECT n FROM shared')).toEqual([{ n: 1 }]);
    await a.close();
    await a.close(); // idempotent: does not release b's share
    expect(await b.ping()).toBe(true);
    await b.close();
    expect(await b.ping()).toBe(false);
  });

  it('returns the rows of the last statement of a multi-statement text', async () => {
    const db = await openDatabase({ memory: true });
    try {
      expect(
        await db.exec(
          'CREATE TEMP TABLE t (n int); INSERT INTO t VALUES (1), (2); SELECT sum(n)::int AS s FROM t',
        ),
      ).toEqual([{ s: 3 }]);
    } finally {
      await db.close();
    }
  });

  it.skipIf(postgresUrl === undefined)('connects to PostgreSQL with a url and reports ping', async () => {
    const db = await openDatabase({ url: postgresUrl!, poolSize: 2 });
    expect(db.kind).toBe('postgres');
    expect(await db.ping()).toBe(true);
    expect(await db.exec('SELECT 1 AS one; SELECT 2 AS two')).toEqual([{ two: 2 }]);
    await db.close();
    expect(await db.ping()).toBe(false);
    const unreachable = await openDatabase({ url: 'postgresql://postgres@127.0.0.1:1/none', poolSize: 1 });
    expect(await unreachable.ping()).toBe(false);
    await unreachable.close();
  });
});

describe('aauth-migrate CLI', () => {
  let dataDir: string;
  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'aauth-db-cli-'));
  });
  afterEach(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('migrates the PGlite database in DATA_DIR, then reports it up to date', async () => {
    const env = { ...process.env, DATABASE_URL: '', DATA_DIR: dataDir };
    const status = await run(process.execPath, [migrateBin, fixtureMigrationsDir, '--status'], { env }).catch(
      (err: { code: number; stdout: string }) => err,
    );
    expect('code' in status ? status.code : 0).toBe(1);
    expect(JSON.parse(status.stdout)).toMatchObject({ pending: [expect.any(String), expect.any(String)] });

    const applied = await run(process.execPath, [migrateBin, fixtureMigrationsDir], { env });
    expect(JSON.parse(applied.stdout)).toEqual({ applied: [expect.any(String), expect.any(String)] });
    const logs = applied.stderr
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(logs.filter((line) => line.event === 'db.migration_applied')).toHaveLength(2);
    expect(logs.at(-1)).toMatchObject({ event: 'db.migrations_done', level: 'info' });

    const after = await run(process.execPath, [migrateBin, fixtureMigrationsDir, '--status'], { env });
    expect(JSON.parse(after.stdout)).toMatchObject({ pending: [], modified: [], failed: [] });

    // The data folder now serves the app: Prisma reads the migrated schema.
    const db = await openDatabase({ dataDir });
    const prisma = new PrismaClient({ adapter: db.adapter });
    try {
      expect(await prisma.account.count()).toBe(0);
      expect((await migrationStatus(db, fixtureMigrationsDir)).applied).toHaveLength(2);
    } finally {
      await prisma.$disconnect();
      await db.close();
    }
  });

  it('exits 2 with usage when misused', async () => {
    const error = await run(process.execPath, [migrateBin], {
      env: { ...process.env, DATA_DIR: dataDir },
    }).catch((err: { code: number; stderr: string }) => err);
    expect(error).toMatchObject({ code: 2 });
    expect((error as { stderr: string }).stderr).toContain('usage: aauth-migrate');
  });
});
