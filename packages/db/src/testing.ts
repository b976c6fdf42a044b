import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { applyMigrations, computeChecksum, readMigrations } from './migrations.js';
import { openDatabase } from './open-database.js';
import { openPgliteDatabase } from './pglite.js';
import type { Database } from './types.js';

export interface CreateTestDatabaseOptions {
  /** The app's `prisma/migrations` folder. */
  migrationsDir: string;
  /** PostgreSQL server to create databases on; defaults to `TEST_DATABASE_URL`, else PGlite. */
  url?: string;
}

export interface TestDatabase {
  db: Database;
  /** Connection string of this test's own PostgreSQL database (absent on PGlite). */
  url?: string;
  /** Closes the database and, on PostgreSQL, drops it. */
  drop(): Promise<void>;
}

/**
 * A migrated database that belongs to the caller alone. On PostgreSQL (`TEST_DATABASE_URL`) it is
 * `CREATE DATABASE … TEMPLATE aauth_tpl_<hash of the migrations>`; the template is built once per
 * migration set, whichever worker gets there first. On PGlite it is an in-memory instance loaded from
 * a migrated data folder image, built once and cached in the OS temp folder.
 */
export async function createTestDatabase(options: CreateTestDatabaseOptions): Promise<TestDatabase> {
  const url = options.url ?? process.env.TEST_DATABASE_URL;
  if (url !== undefined && url !== '') return createPostgresTestDatabase(url, options.migrationsDir);
  return createPgliteTestDatabase(options.migrationsDir);
}

/** `aauth_tpl_` + 12 hex of the sha256 over every migration's name and checksum, in order. */
export async function templateDatabaseName(migrationsDir: string): Promise<string> {
  return `aauth_tpl_${(await migrationsHash(migrationsDir)).slice(0, 12)}`;
}

async function migrationsHash(migrationsDir: string): Promise<string> {
  const files = await readMigrations(migrationsDir);
  return computeChecksum(files.map((file) => `${file.name}\n${file.checksum}\n`).join(''));
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

async function createPostgresTestDatabase(serverUrl: string, migrationsDir: string): Promise<TestDatabase> {
  const template = await templateDatabaseName(migrationsDir);
  const name = `aauth_t_${randomBytes(8).toString('hex')}`;
  await withAdminClient(serverUrl, async (admin) => {
    await ensureTemplate(admin, serverUrl, template, migrationsDir);
    await createFromTemplate(admin, name, template);
  });
  return openOwnedPostgresDatabase(serverUrl, name);
}

async function openOwnedPostgresDatabase(serverUrl: string, name: string): Promise<TestDatabase> {
  const url = databaseUrl(serverUrl, name);
  const db = await openDatabase({ url, poolSize: 4 });
  let dropped: Promise<void> | undefined;
  return {
    db,
    url,
    drop: () => {
      dropped ??= (async () => {
        await db.close();
        await withAdminClient(serverUrl, (admin) =>
          admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
        );
      })();
      return dropped;
    },
  };
}

async function ensureTemplate(
  admin: pg.Client,
  serverUrl: string,
  template: string,
  migrationsDir: string,
): Promise<void> {
  if (await isReadyTemplate(admin, template)) return;
  // Advisory locks are per database: every worker holds its admin session on the same one.
  const lockKey = Number.parseInt(template.slice(-12, -4), 16) | 0;
  await admin.query('SELECT pg_advisory_lock($1)', [lockKey]);
  try {
    if (await isReadyTemplate(admin, template)) return;
    // A half-built template (a worker died while migrating it) is rebuilt from scratch.
    await admin.query(`DROP DATABASE IF EXISTS ${template} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${template}`);
    const db = await openDatabase({ url: databaseUrl(serverUrl, template), poolSize: 1 });
    try {
      await applyMigrations(db, migrationsDir);
    } finally {
      await db.close();
    }
    // Nobody may connect to a template: a stray session would make every clone fail.
    await admin.query(`ALTER DATABASE ${template} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false`);
  } finally {
    await admin.query('SELECT pg_advisory_unlock($1)', [lockKey]);
  }
}

async function isReadyTemplate(admin: pg.Client, template: string): Promise<boolean> {
  const { rows } = await admin.query<{ datistemplate: boolean }>(
    'SELECT datistemplate FROM pg_database WHERE datname = $1',
    [template],
  );
  return rows[0]?.datistemplate === true;
}

async function createFromTemplate(admin: pg.Client, name: string, template: string): Promise<void> {
  for (let attempt = 0; ; attempt += 1) {
    try {
      await admin.query(`CREATE DATABASE ${name} TEMPLATE ${template}`);
      return;
    } catch (err) {
      // 55006 object_in_use: a session is still attached to the template; it goes away shortly.
      if ((err as { code?: string }).code !== '55006' || attempt >= 20) throw err;
      await new Promise((resolveWait) => setTimeout(resolveWait, 100));
    }
  }
}

async function withAdminClient<T>(serverUrl: string, fn: (admin: pg.Client) => Promise<T>): Promise<T> {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.end();
  }
}

function databaseUrl(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

// ---------------------------------------------------------------------------------------------
// PGlite

/** Migrated data folder images by image path, for this process. */
const pgliteImages = new Map<string, Promise<Blob>>();
/** The instance an image was dumped from, handed to the first caller instead of loading the image again. */
const spareInstances = new Map<string, PGlite>();

/** Where the migrated PGlite image for these migrations is cached (shared by test worker processes). */
export async function pgliteImagePath(migrationsDir: string): Promise<string> {
  return join(PGLITE_IMAGE_DIR, `${await templateDatabaseName(migrationsDir)}.tar`);
}

/** Per PGlite version: an image written by another version's Postgres build may not load. */
const PGLITE_IMAGE_ROOT = join(tmpdir(), 'aauth-ref-pglite');
const PGLITE_IMAGE_DIR = join(PGLITE_IMAGE_ROOT, pgliteVersion());
/** Images (of any PGlite version) nobody has used for a week are deleted when a new one is built. */
const PGLITE_IMAGE_MAX_AGE_MS = 7 * 24 * 3600 * 1000;

async function createPgliteTestDatabase(migrationsDir: string | undefined): Promise<TestDatabase> {
  const file =
    migrationsDir === undefined ? join(PGLITE_IMAGE_DIR, 'empty.tar') : await pgliteImagePath(migrationsDir);
  let image = pgliteImages.get(file);
  if (image === undefined) {
    image = loadOrBuildPgliteImage(file, migrationsDir);
    pgliteImages.set(file, image);
    image.catch(() => pgliteImages.delete(file));
  }
  const loaded = await image;
  const spare = spareInstances.get(file);
  spareInstances.delete(file);
  const instance = spare ?? (await PGlite.create({ loadDataDir: loaded }));
  const db = await openPgliteDatabase({ instance });
  return { db, drop: () => db.close() };
}

/**
 * Initialising PGlite (its initdb) and migrating costs seconds; loading a data folder image costs a
 * fraction of that. Test files run in separate worker processes, so the image is shared through the
 * OS temp folder, named by the migrations hash; a stale image can never match new migrations.
 */
async function loadOrBuildPgliteImage(file: string, migrationsDir: string | undefined): Promise<Blob> {
  try {
    const bytes = await readFile(file);
    // Reading refreshes nothing on noatime mounts; touching keeps a used image out of the pruning.
    await utimes(file, new Date(), new Date()).catch(() => undefined);
    return new Blob([bytes]);
  } catch {
    // Not built yet (or unreadable): build it below.
  }
  const instance = await PGlite.create();
  let image: Blob;
  try {
    if (migrationsDir !== undefined)
      await applyMigrations(await openPgliteDatabase({ instance }), migrationsDir);
    // Uncompressed: 40 MB on disk, but loading it is ~0.3 s faster than a gzip one (4.5 MB).
    image = await instance.dumpDataDir('none');
  } catch (err) {
    await instance.close();
    throw err;
  }
  spareInstances.set(file, instance);
  // Parallel workers may build the same image; each writes its own file and renames it into place.
  await mkdir(PGLITE_IMAGE_DIR, { recursive: true });
  await pruneStaleImages();
  const partial = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  await writeFile(partial, new Uint8Array(await image.arrayBuffer()));
  await rename(partial, file);
  return image;
}

/**
 * An EMPTY database of the caller's own (no migrations), for tests of migration behaviour itself:
 * PostgreSQL `CREATE DATABASE aauth_t_<random>` on `TEST_DATABASE_URL`, else in-memory PGlite.
 */
export async function createEmptyTestDatabase(options: { url?: string } = {}): Promise<TestDatabase> {
  const serverUrl = options.url ?? process.env.TEST_DATABASE_URL;
  if (serverUrl === undefined || serverUrl === '') return createPgliteTestDatabase(undefined);
  const name = `aauth_t_${randomBytes(8).toString('hex')}`;
  await withAdminClient(serverUrl, (admin) => admin.query(`CREATE DATABASE ${name}`));
  return openOwnedPostgresDatabase(serverUrl, name);
}

export { deployWithPrismaEngine, diagnoseWithPrismaEngine } from './prisma-engine.js';

function pgliteVersion(): string {
  const require = createRequire(import.meta.url);
  const entry = require.resolve('@electric-sql/pglite');
  const manifest = JSON.parse(readFileSync(join(dirname(entry), '..', 'package.json'), 'utf8')) as {
    version?: string;
  };
  return manifest.version ?? 'unknown';
}

async function pruneStaleImages(): Promise<void> {
  const now = Date.now();
  for (const name of await readdir(PGLITE_IMAGE_ROOT, { recursive: true }).catch(() => [] as string[])) {
    const path = join(PGLITE_IMAGE_ROOT, name);
    const info = await stat(path).catch(() => undefined);
    if (info?.isFile() === true && now - info.mtimeMs > PGLITE_IMAGE_MAX_AGE_MS)
      await rm(path, { force: true });
  }
}
