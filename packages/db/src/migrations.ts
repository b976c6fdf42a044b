import { createHash, randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Database, DatabaseLogger, Queryable, Session } from './types.js';

/** One Prisma migration folder: `<timestamp>_<name>/migration.sql`. */
export interface MigrationFile {
  name: string;
  sql: string;
  /** sha256 hex of the file's bytes, as Prisma records it. */
  checksum: string;
}

export interface MigrationStatus {
  /** Applied and unchanged, in order. */
  applied: string[];
  /** In the folder, not yet applied. */
  pending: string[];
  /** Applied, but the file no longer matches the recorded checksum. */
  modified: string[];
  /** Started and never finished (left by a failed `prisma migrate deploy`); needs an operator. */
  failed: string[];
}

export type MigrationErrorCode =
  | 'invalid_directory'
  | 'modified'
  | 'failed'
  | 'lock_timeout'
  | 'apply_failed';

/** A migration run refused or failed; never client-visible, it stops the server or the job. */
export class MigrationError extends Error {
  readonly code: MigrationErrorCode;
  readonly migrations: string[];

  constructor(code: MigrationErrorCode, message: string, migrations: string[] = [], cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'MigrationError';
    this.code = code;
    this.migrations = migrations;
  }
}

export interface ApplyMigrationsOptions {
  logger?: DatabaseLogger;
  /** How long to wait for another instance's run to finish (default 60 s). */
  lockTimeoutMs?: number;
}

export interface ApplyMigrationsResult {
  /** Names applied by this run, in order (empty when the database was already up to date). */
  applied: string[];
}

/**
 * Prisma's own advisory lock key (`SELECT pg_advisory_lock(72707369)` in its schema engine), so this
 * runner and `prisma migrate deploy` never run against the same database at once. Advisory locks
 * are scoped to the current database, so servers with separate databases do not contend.
 */
const PRISMA_ADVISORY_LOCK_KEY = 72707369;
const LOCK_POLL_MS = 100;

/** Exactly the table Prisma's schema engine creates on PostgreSQL. */
const CREATE_MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS _prisma_migrations (
    id                      VARCHAR(36) PRIMARY KEY NOT NULL,
    checksum                VARCHAR(64) NOT NULL,
    finished_at             TIMESTAMPTZ,
    migration_name          VARCHAR(255) NOT NULL,
    logs                    TEXT,
    rolled_back_at          TIMESTAMPTZ,
    started_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    applied_steps_count     INTEGER NOT NULL DEFAULT 0
)`;

/** Reads the migration folders in Prisma's order (by name); `migration_lock.toml` and files are skipped. */
export async function readMigrations(migrationsDir: string): Promise<MigrationFile[]> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(migrationsDir, { withFileTypes: true });
  } catch (cause) {
    throw new MigrationError(
      'invalid_directory',
      `cannot read migrations folder ${migrationsDir}`,
      [],
      cause,
    );
  }
  const names = entries
    .filter((entry) => entry.isDirectory() && !entry.name.startsWith('.'))
    .map((entry) => entry.name)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return Promise.all(
    names.map(async (name) => {
      let bytes: Buffer;
      try {
        bytes = await readFile(join(migrationsDir, name, 'migration.sql'));
      } catch (cause) {
        throw new MigrationError(
          'invalid_directory',
          `migration ${name} has no readable migration.sql`,
          [name],
          cause,
        );
      }
      return { name, sql: bytes.toString('utf8'), checksum: computeChecksum(bytes) };
    }),
  );
}

/** sha256 of the migration script, lower-case hex: the value Prisma writes to `checksum`. */
export function computeChecksum(script: string | Uint8Array): string {
  return createHash('sha256').update(script).digest('hex');
}

/**
 * Whether `script` matches a recorded checksum the way Prisma decides it: the file as is, or with
 * its line endings converted either way (git may have rewritten them), and in the unpadded hex of
 * old Prisma versions when the recorded value is not 64 characters.
 */
export function scriptMatchesChecksum(script: string, checksum: string): boolean {
  const variants = [script, script.replaceAll('\r\n', '\n'), script.replaceAll('\n', '\r\n')];
  const legacy = checksum.length !== 64;
  return variants.some((variant) => {
    const digest = createHash('sha256').update(variant).digest();
    const rendered = legacy ? [...digest].map((byte) => byte.toString(16)).join('') : digest.toString('hex');
    return rendered === checksum;
  });
}

interface MigrationRow {
  migration_name: string;
  checksum: string;
  finished_at: Date | string | null;
}

async function readMigrationRows(db: Queryable): Promise<MigrationRow[] | undefined> {
  const [exists] = await db.exec<{ present: boolean }>(
    `SELECT to_regclass('_prisma_migrations') IS NOT NULL AS present`,
  );
  if (exists?.present !== true) return undefined;
  // Prisma ignores rows marked rolled back (`migrate resolve --rolled-back`); the migration is pending again.
  return db.exec<MigrationRow>(
    `SELECT migration_name, checksum, finished_at FROM _prisma_migrations
      WHERE rolled_back_at IS NULL ORDER BY started_at, migration_name`,
  );
}

function compareWithFiles(files: readonly MigrationFile[], rows: readonly MigrationRow[]): MigrationStatus {
  const status: MigrationStatus = { applied: [], pending: [], modified: [], failed: [] };
  const rowsByName = new Map<string, MigrationRow[]>();
  for (const row of rows) {
    const list = rowsByName.get(row.migration_name) ?? [];
    list.push(row);
    rowsByName.set(row.migration_name, list);
  }
  for (const file of files) {
    const recorded = rowsByName.get(file.name);
    if (recorded === undefined) {
      status.pending.push(file.name);
      continue;
    }
    const finished = recorded.filter((row) => row.finished_at !== null);
    if (finished.length === 0) {
      status.failed.push(file.name);
    } else if (finished.every((row) => scriptMatchesChecksum(file.sql, row.checksum))) {
      status.applied.push(file.name);
    } else {
      status.modified.push(file.name);
    }
  }
  return status;
}

/** What `/readyz` needs: the database is ready when nothing is pending, modified or failed. */
export async function migrationStatus(db: Queryable, migrationsDir: string): Promise<MigrationStatus> {
  const files = await readMigrations(migrationsDir);
  return compareWithFiles(files, (await readMigrationRows(db)) ?? []);
}

export function isMigrationStatusReady(status: MigrationStatus): boolean {
  return status.pending.length === 0 && status.modified.length === 0 && status.failed.length === 0;
}

/**
 * Applies the pending migrations of `migrationsDir`, each in one transaction together with its
 * `_prisma_migrations` row, under Prisma's advisory lock. Idempotent. Refuses to run when an applied
 * migration's file was edited or a previous run left a failed migration.
 *
 * A migration runs inside a transaction, so it must not contain statements PostgreSQL forbids there
 * (`CREATE INDEX CONCURRENTLY`, `VACUUM`); put those in a migration applied by `prisma migrate deploy`.
 */
export async function applyMigrations(
  db: Database,
  migrationsDir: string,
  options: ApplyMigrationsOptions = {},
): Promise<ApplyMigrationsResult> {
  const files = await readMigrations(migrationsDir);
  return db.session(async (session) => {
    await acquireLock(session, options.lockTimeoutMs ?? 60_000);
    try {
      return await applyLocked(session, files, options.logger);
    } finally {
      await releaseLock(session);
    }
  });
}

async function applyLocked(
  session: Session,
  files: readonly MigrationFile[],
  logger: DatabaseLogger | undefined,
): Promise<ApplyMigrationsResult> {
  await session.exec(CREATE_MIGRATIONS_TABLE);
  const status = compareWithFiles(files, (await readMigrationRows(session)) ?? []);
  if (status.modified.length > 0) {
    throw new MigrationError(
      'modified',
      `applied migration(s) ${status.modified.join(', ')} no longer match their recorded checksum: ` +
        'migrations are never edited after they land; restore the file and add a new migration',
      status.modified,
    );
  }
  if (status.failed.length > 0) {
    throw new MigrationError(
      'failed',
      `migration(s) ${status.failed.join(', ')} started and never finished; repair the database, then ` +
        'mark them with `prisma migrate resolve --applied|--rolled-back`',
      status.failed,
    );
  }
  const applied: string[] = [];
  for (const file of files) {
    if (!status.pending.includes(file.name)) continue;
    const started = Date.now();
    try {
      await session.transaction(async (tx) => {
        const id = randomUUID();
        await tx.exec(
          `INSERT INTO _prisma_migrations (id, checksum, migration_name, started_at, applied_steps_count)
           VALUES ($1, $2, $3, now(), 0)`,
          [id, file.checksum, file.name],
        );
        await tx.exec(file.sql);
        // Prisma counts one step per migration script and stamps the end of the script.
        await tx.exec(
          `UPDATE _prisma_migrations SET finished_at = clock_timestamp(), applied_steps_count = 1 WHERE id = $1`,
          [id],
        );
      });
    } catch (cause) {
      throw new MigrationError(
        'apply_failed',
        `migration ${file.name} failed and was rolled back: ${describe(cause)}`,
        [file.name],
        cause,
      );
    }
    applied.push(file.name);
    logger?.info(
      { event: 'db.migration_applied', migration: file.name, durationMs: Date.now() - started },
      'migration applied',
    );
  }
  return { applied };
}

async function acquireLock(session: Session, timeoutMs: number): Promise<void> {
  // PGlite is one session in one process: `session()` already serializes runs, and a session-level
  // advisory lock would be re-entrant there anyway.
  if (session.kind === 'pglite') return;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [row] = await session.exec<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [
      PRISMA_ADVISORY_LOCK_KEY,
    ]);
    if (row?.locked === true) return;
    if (Date.now() >= deadline) {
      throw new MigrationError(
        'lock_timeout',
        `timed out after ${timeoutMs} ms waiting for the migration lock (pg_advisory_lock(${PRISMA_ADVISORY_LOCK_KEY})) held by another instance`,
      );
    }
    await new Promise((resolveWait) => setTimeout(resolveWait, LOCK_POLL_MS));
  }
}

async function releaseLock(session: Session): Promise<void> {
  if (session.kind === 'pglite') return;
  await session.exec('SELECT pg_advisory_unlock($1)', [PRISMA_ADVISORY_LOCK_KEY]);
}

function describe(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}
