import type { Clock } from '@aauth-ref/core';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { defineEnvVar } from './server/config.js';

/**
 * One table (or one slice of one) whose rows expire. `deleteBatch` removes at most `limit` rows that
 * are past retention at `now` and resolves how many it removed; the sweeper calls it again while a
 * batch comes back full, so no single statement holds locks on an unbounded number of rows.
 */
export interface RetentionTask {
  readonly name: string;
  deleteBatch(now: Date, limit: number): Promise<number>;
}

/** Structural subset of pino's logger (Fastify's `app.log` fits). */
export interface RetentionLogger {
  debug(obj: Record<string, unknown>, msg?: string): void;
  error(obj: Record<string, unknown>, msg?: string): void;
}

/** The timer functions the sweeper schedules itself with; tests pass ones they fire by hand. */
export interface RetentionTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface RetentionSweeperOptions {
  readonly tasks: readonly RetentionTask[];
  readonly clock: Clock;
  readonly logger: RetentionLogger;
  /** Mean time between sweeps (default 60 000 ms); `0` never schedules (call `sweep` by hand). */
  readonly intervalMs?: number;
  /** Each delay is `intervalMs` ± this fraction (default 0.2), so instances started together spread out. */
  readonly jitter?: number;
  /** Rows per DELETE statement (default 500). */
  readonly batchSize?: number;
  /** Batches per task per sweep (default 20); what is left waits for the next sweep. */
  readonly maxBatchesPerTask?: number;
  readonly timers?: RetentionTimers;
  /** In [0, 1); default `Math.random`. */
  readonly random?: () => number;
}

export interface RetentionSweepReport {
  /** Rows deleted per task name (a failed task is absent). */
  readonly deleted: Readonly<Record<string, number>>;
  /** Names of the tasks that threw. */
  readonly failed: readonly string[];
}

export interface RetentionSweeper {
  /** Schedules the sweeps (no-op when `intervalMs` is 0 or already started). The first runs one delay after. */
  start(): void;
  /** Runs a sweep now; while one is running, resolves with that one instead of starting another. */
  sweep(): Promise<RetentionSweepReport>;
  /** Stops scheduling and waits for a running sweep to finish. */
  stop(): Promise<void>;
}

export const DEFAULT_RETENTION_INTERVAL_MS = 60_000;
const DEFAULT_JITTER = 0.2;
const DEFAULT_BATCH_SIZE = 500;
const DEFAULT_MAX_BATCHES = 20;

const nodeTimers: RetentionTimers = {
  setTimeout(fn, ms) {
    const handle = setTimeout(fn, ms);
    // Never keeps the process alive on its own: shutdown does not wait for the next sweep.
    handle.unref();
    return handle;
  },
  clearTimeout(handle) {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
};

/**
 * Deletes rows past retention on an interval. Several instances sharing one database may sweep at
 * the same time without coordination: every task is an idempotent `DELETE … WHERE <cutoff>` (see
 * `createSqlRetentionTask`), so two sweeps at worst split the rows between them.
 */
export function createRetentionSweeper(options: RetentionSweeperOptions): RetentionSweeper {
  const intervalMs = options.intervalMs ?? DEFAULT_RETENTION_INTERVAL_MS;
  const jitter = Math.min(Math.max(options.jitter ?? DEFAULT_JITTER, 0), 1);
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  const maxBatches = options.maxBatchesPerTask ?? DEFAULT_MAX_BATCHES;
  const timers = options.timers ?? nodeTimers;
  const random = options.random ?? Math.random;
  const { logger, clock } = options;

  let running: Promise<RetentionSweepReport> | undefined;
  let handle: unknown;
  let started = false;
  let stopped = false;

  async function runTask(task: RetentionTask, now: Date): Promise<number> {
    let total = 0;
    for (let i = 0; i < maxBatches; i += 1) {
      const n = await task.deleteBatch(now, batchSize);
      total += n;
      if (n < batchSize) break;
    }
    return total;
  }

  async function runSweep(): Promise<RetentionSweepReport> {
    const now = new Date(clock.now());
    const deleted: Record<string, number> = {};
    const failed: string[] = [];
    // One task at a time: a sweep is background work and should not take several pool connections.
    for (const task of options.tasks) {
      try {
        deleted[task.name] = await runTask(task, now);
      } catch (err) {
        failed.push(task.name);
        logger.error({ event: 'retention.failed', task: task.name, err }, 'retention sweep task failed');
      }
    }
    logger.debug({ event: 'retention.swept', deleted, failed }, 'retention sweep done');
    return { deleted, failed };
  }

  function sweep(): Promise<RetentionSweepReport> {
    if (running) return running;
    const current = runSweep().finally(() => {
      running = undefined;
    });
    running = current;
    return current;
  }

  function nextDelay(): number {
    return Math.max(1, Math.round(intervalMs * (1 - jitter + 2 * jitter * random())));
  }

  function schedule(): void {
    if (stopped) return;
    handle = timers.setTimeout(() => {
      handle = undefined;
      // The next sweep is scheduled only once this one is over, so sweeps never overlap.
      void sweep().finally(schedule);
    }, nextDelay());
  }

  return {
    start() {
      if (started || stopped || intervalMs <= 0) return;
      started = true;
      schedule();
    },
    sweep,
    async stop() {
      stopped = true;
      if (handle !== undefined) timers.clearTimeout(handle);
      handle = undefined;
      if (running) await running.catch(() => undefined);
    },
  };
}

/** Starts `sweeper` and stops it when `app` closes (before the database is closed by later hooks). */
export function registerRetentionSweeper(app: FastifyInstance, sweeper: RetentionSweeper): RetentionSweeper {
  sweeper.start();
  app.addHook('onClose', async () => {
    await sweeper.stop();
  });
  return sweeper;
}

/** Something that runs one parameterised SQL statement (`@aauth-ref/db`'s `Database` fits). */
export interface RetentionSql {
  exec<R extends object>(sql: string, params?: readonly unknown[]): Promise<R[]>;
}

export interface SqlRetentionTaskSpec {
  readonly name: string;
  /** Table name (trusted: a constant in the app's code). */
  readonly table: string;
  /** The primary key columns, e.g. `['id']` or `['iss', 'jti']`. */
  readonly key: readonly string[];
  /**
   * The condition that makes a row deletable, with placeholders from `$2` on (`$1` is the batch
   * size), e.g. `expires_at < $2`. Its column should be indexed.
   */
  readonly where: string;
  /** The values of `$2`, `$3`, … at `now` (typically cutoffs: `now` minus a retention period). */
  readonly params: (now: Date) => readonly unknown[];
}

/**
 * A task deleting at most `limit` rows matching `where` per call. The rows are picked by key in a
 * subselect with `FOR UPDATE SKIP LOCKED`, so two instances sweeping at once take disjoint rows
 * instead of waiting on each other, and `where` is repeated on the DELETE itself so a row updated
 * after it was picked (say, a pending request extended) is re-checked against its new values.
 */
export function createSqlRetentionTask(db: RetentionSql, spec: SqlRetentionTaskSpec): RetentionTask {
  const keys = spec.key.join(', ');
  const sql = `WITH gone AS (
  DELETE FROM ${spec.table}
  WHERE (${keys}) IN (SELECT ${keys} FROM ${spec.table} WHERE ${spec.where} LIMIT $1 FOR UPDATE SKIP LOCKED)
    AND ${spec.where}
  RETURNING 1
)
SELECT count(*)::int AS n FROM gone`;
  return {
    name: spec.name,
    async deleteBatch(now, limit) {
      const rows = await db.exec<{ n: number }>(sql, [limit, ...spec.params(now)]);
      return Number(rows[0]?.n ?? 0);
    },
  };
}

/** `now` minus `seconds`: the cutoff for rows kept `seconds` past their own expiry. */
export function cutoffBefore(now: Date, seconds: number): Date {
  return new Date(now.getTime() - seconds * 1000);
}

export interface ExpiryRetentionSpec {
  /** Table name (trusted: a constant in the app's code); also the task's name. */
  readonly table: string;
  /** The primary key columns, e.g. `['id']` or `['iss', 'jti']`. */
  readonly key: readonly string[];
  /** The row's own expiry column (default `expires_at`); it should be indexed. */
  readonly column?: string;
  /** How long a row is kept past its expiry, seconds (default 0: deleted once expired). */
  readonly keepSeconds?: number;
  /** A further condition a deletable row must meet, `$2` being the cutoff. */
  readonly andWhere?: string;
}

/** The common task shape: rows whose expiry column is more than `keepSeconds` in the past. */
export function createExpiryRetentionTask(db: RetentionSql, spec: ExpiryRetentionSpec): RetentionTask {
  const keepSeconds = spec.keepSeconds ?? 0;
  const expired = `${spec.column ?? 'expires_at'} < $2`;
  return createSqlRetentionTask(db, {
    name: spec.table,
    table: spec.table,
    key: spec.key,
    where: spec.andWhere === undefined ? expired : `${expired} AND ${spec.andWhere}`,
    params: (now) => [cutoffBefore(now, keepSeconds)],
  });
}

/**
 * Pending requests (and other polled rows with `expires_at` and `terminal_at`): kept `keepSeconds`
 * past both their expiry and their terminal answer, so a late poll is still answered 410 (or its
 * terminal error) rather than 404.
 */
export function createPendingRetentionTask(
  db: RetentionSql,
  spec: Omit<ExpiryRetentionSpec, 'column'> & { readonly keepSeconds: number },
): RetentionTask {
  const ended = '(terminal_at IS NULL OR terminal_at < $2)';
  return createExpiryRetentionTask(db, {
    ...spec,
    andWhere: spec.andWhere === undefined ? ended : `${ended} AND ${spec.andWhere}`,
  });
}

/**
 * The records of auth tokens an issuer (PS or AS) signed, `keepSeconds` past their `exp`. An R3 audit
 * entry names its token by `jti` but does not depend on the record: it has its own retention
 * (`createAuditRetentionTasks`).
 */
export function createIssuedAuthTokenRetentionTask(db: RetentionSql, keepSeconds: number): RetentionTask {
  return createExpiryRetentionTask(db, {
    table: 'issued_auth_token',
    key: ['jti'],
    column: 'exp',
    keepSeconds,
  });
}

/** An audit table: rows kept for a while after they were written, whatever becomes of what they name. */
export interface AuditTable {
  /** Table name (trusted: a constant in the app's code); also the task's name. */
  readonly table: string;
  readonly key: readonly string[];
  /** When the row was written (e.g. `issued_at`, `created_at`); it should be indexed. */
  readonly column: string;
}

/**
 * Audit rows `keepSeconds` (`AUDIT_RETENTION_SECONDS`) after they were written; `0` keeps them forever
 * (no task). The drafts fix no retention for audit records, so it is the operator's to choose.
 */
export function createAuditRetentionTasks(
  db: RetentionSql,
  keepSeconds: number,
  tables: readonly AuditTable[],
): RetentionTask[] {
  if (keepSeconds === 0) return [];
  return tables.map((table) => createExpiryRetentionTask(db, { ...table, keepSeconds }));
}

/** Revocations are kept this long past the revoked token's `exp`: clock skew between instances. */
export const REVOCATION_SKEW_SECONDS = 300;

/**
 * The tasks every server has: browser sessions once expired, and revocations `REVOCATION_SKEW_SECONDS`
 * past the revoked token's `exp` (§Token Revocation: a revoked token is refused by its own `exp`
 * afterwards; rows without one stay).
 */
export function createCommonRetentionTasks(db: RetentionSql): RetentionTask[] {
  return [
    createExpiryRetentionTask(db, { table: 'web_session', key: ['id_hash'] }),
    createExpiryRetentionTask(db, {
      table: 'revocation',
      key: ['iss', 'jti'],
      keepSeconds: REVOCATION_SKEW_SECONDS,
    }),
  ];
}

/**
 * The retention settings every server shares; each app spreads these into its own env spec. What is
 * kept for how long is in docs/reliability.md (*Retention*).
 */
export const retentionEnvSpec = {
  RETENTION_INTERVAL_SECONDS: defineEnvVar({
    description:
      'Mean time between sweeps deleting rows past retention (pending requests, token records, sessions), seconds, jittered ±20 %; 0 turns the sweeper off (another instance or job must sweep).',
    schema: Type.Integer({ minimum: 0, maximum: 24 * 3600 }),
    default: '60',
  }),
  PENDING_RETENTION_SECONDS: defineEnvVar({
    description:
      'How long a pending request is kept after it expired or ended, seconds, so a late poll is answered 410 (or its terminal error) rather than 404.',
    schema: Type.Integer({ minimum: 60, maximum: 30 * 24 * 3600 }),
    default: '3600',
  }),
  TOKEN_RECORD_RETENTION_SECONDS: defineEnvVar({
    description:
      "How long the records of issued or accepted tokens are kept after the token's exp, seconds (a Person Server keeps person-token records at least RESOURCE_TOKEN_MAX_LIFETIME_SECONDS past exp whatever this says).",
    schema: Type.Integer({ minimum: 0, maximum: 366 * 24 * 3600 }),
    default: String(24 * 3600),
  }),
};

/** 400 days: a year of audit history plus a margin for yearly reviews. */
export const DEFAULT_AUDIT_RETENTION_SECONDS = 400 * 24 * 3600;

/** The audit retention setting of the servers that keep audit records (PS and AS). */
export const auditRetentionEnvSpec = {
  AUDIT_RETENTION_SECONDS: defineEnvVar({
    description:
      'How long audit records (R3 audit records; at a Person Server also the governance log and security events) are kept after they were written, seconds; 0 keeps them forever.',
    schema: Type.Integer({ minimum: 0, maximum: 100 * 366 * 24 * 3600 }),
    default: String(DEFAULT_AUDIT_RETENTION_SECONDS),
  }),
};
