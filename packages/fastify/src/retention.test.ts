import { createFakeClock } from '@aauth-ref/testkit';
import { describe, expect, it } from 'vitest';
import {
  createAuditRetentionTasks,
  createCommonRetentionTasks,
  createExpiryRetentionTask,
  createIssuedAuthTokenRetentionTask,
  createPendingRetentionTask,
  createRetentionSweeper,
  createSqlRetentionTask,
  REVOCATION_SKEW_SECONDS,
  type RetentionLogger,
  type RetentionTask,
  type RetentionTimers,
} from './retention.js';

interface Scheduled {
  readonly fn: () => void;
  readonly ms: number;
  cancelled: boolean;
}

/** Timers fired by hand: `fire()` runs the pending one. */
function createManualTimers(): RetentionTimers & { readonly scheduled: Scheduled[]; fire(): void } {
  const scheduled: Scheduled[] = [];
  return {
    scheduled,
    setTimeout(fn, ms) {
      const entry = { fn, ms, cancelled: false };
      scheduled.push(entry);
      return entry;
    },
    clearTimeout(handle) {
      (handle as Scheduled).cancelled = true;
    },
    fire() {
      const next = scheduled.filter((s) => !s.cancelled).at(-1);
      if (!next) throw new Error('nothing scheduled');
      next.cancelled = true;
      next.fn();
    },
  };
}

function createLogger(): RetentionLogger & {
  readonly entries: { level: string; obj: Record<string, unknown> }[];
} {
  const entries: { level: string; obj: Record<string, unknown> }[] = [];
  return {
    entries,
    debug: (obj) => entries.push({ level: 'debug', obj }),
    error: (obj) => entries.push({ level: 'error', obj }),
  };
}

/** A table of expiry instants (ms) deleted in batches, as the SQL task does. */
function createTableTask(name: string, expiries: number[]): RetentionTask & { readonly rows: number[] } {
  const rows = [...expiries];
  return {
    name,
    rows,
    async deleteBatch(now, limit) {
      let n = 0;
      for (let i = rows.length - 1; i >= 0 && n < limit; i -= 1) {
        if ((rows[i] as number) < now.getTime()) {
          rows.splice(i, 1);
          n += 1;
        }
      }
      return n;
    },
  };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

describe('retention sweeper', () => {
  it('deletes only rows past the cutoff at the clock, in bounded batches', async () => {
    const clock = createFakeClock(10_000);
    const task = createTableTask('t', [1, 2, 3, 4, 5, 6, 7, 20_000]);
    const calls: number[] = [];
    const counting: RetentionTask = {
      name: 't',
      async deleteBatch(now, limit) {
        const n = await task.deleteBatch(now, limit);
        calls.push(n);
        return n;
      },
    };
    const sweeper = createRetentionSweeper({
      tasks: [counting],
      clock,
      logger: createLogger(),
      intervalMs: 0,
      batchSize: 3,
    });
    const report = await sweeper.sweep();
    expect(report).toEqual({ deleted: { t: 7 }, failed: [] });
    expect(calls).toEqual([3, 3, 1]);
    expect(task.rows).toEqual([20_000]);
  });

  it('stops after maxBatchesPerTask and leaves the rest for the next sweep', async () => {
    const task = createTableTask('t', [1, 2, 3, 4, 5]);
    const sweeper = createRetentionSweeper({
      tasks: [task],
      clock: createFakeClock(100),
      logger: createLogger(),
      intervalMs: 0,
      batchSize: 2,
      maxBatchesPerTask: 2,
    });
    expect((await sweeper.sweep()).deleted).toEqual({ t: 4 });
    expect((await sweeper.sweep()).deleted).toEqual({ t: 1 });
  });

  it('logs a failing task as retention.failed and still runs the others', async () => {
    const logger = createLogger();
    const good = createTableTask('good', [1]);
    const sweeper = createRetentionSweeper({
      tasks: [
        {
          name: 'bad',
          deleteBatch: () => Promise.reject(new Error('relation does not exist')),
        },
        good,
      ],
      clock: createFakeClock(100),
      logger,
      intervalMs: 0,
    });
    const report = await sweeper.sweep();
    expect(report).toEqual({ deleted: { good: 1 }, failed: ['bad'] });
    expect(logger.entries.map((e) => [e.level, e.obj.event, e.obj.task])).toEqual([
      ['error', 'retention.failed', 'bad'],
      ['debug', 'retention.swept', undefined],
    ]);
    expect(logger.entries[1]?.obj.deleted).toEqual({ good: 1 });
  });

  it('never overlaps itself: a sweep asked for while one runs joins it', async () => {
    let release!: () => void;
    let calls = 0;
    const slow: RetentionTask = {
      name: 'slow',
      deleteBatch: () => {
        calls += 1;
        return new Promise<number>((resolve) => {
          release = () => resolve(0);
        });
      },
    };
    const sweeper = createRetentionSweeper({
      tasks: [slow],
      clock: createFakeClock(),
      logger: createLogger(),
      intervalMs: 0,
    });
    const first = sweeper.sweep();
    const second = sweeper.sweep();
    expect(second).toBe(first);
    await flush();
    release();
    await first;
    expect(calls).toBe(1);
  });

  it('schedules the next sweep only after the previous one finished, with jittered delays', async () => {
    const timers = createManualTimers();
    const clock = createFakeClock(0);
    const task = createTableTask('t', [50, 150]);
    const randoms = [0, 0.999_999, 0.5];
    const sweeper = createRetentionSweeper({
      tasks: [task],
      clock,
      logger: createLogger(),
      intervalMs: 1_000,
      jitter: 0.2,
      timers,
      random: () => randoms.shift() ?? 0.5,
    });
    sweeper.start();
    sweeper.start();
    expect(timers.scheduled.map((s) => s.ms)).toEqual([800]);

    clock.set(100);
    timers.fire();
    // The sweep is in flight: nothing new is scheduled until it settles.
    expect(timers.scheduled).toHaveLength(1);
    await flush();
    expect(task.rows).toEqual([150]);
    expect(timers.scheduled.map((s) => s.ms)).toEqual([800, 1_200]);

    clock.set(200);
    timers.fire();
    await flush();
    expect(task.rows).toEqual([]);
    expect(timers.scheduled.map((s) => s.ms)).toEqual([800, 1_200, 1_000]);

    await sweeper.stop();
    expect(timers.scheduled.every((s) => s.cancelled)).toBe(true);
  });

  it('does not schedule when intervalMs is 0, nor after stop', async () => {
    const timers = createManualTimers();
    const idle = createRetentionSweeper({
      tasks: [],
      clock: createFakeClock(),
      logger: createLogger(),
      intervalMs: 0,
      timers,
    });
    idle.start();
    expect(timers.scheduled).toHaveLength(0);

    const stopped = createRetentionSweeper({
      tasks: [],
      clock: createFakeClock(),
      logger: createLogger(),
      timers,
    });
    await stopped.stop();
    stopped.start();
    expect(timers.scheduled).toHaveLength(0);
  });

  it('stop waits for the running sweep', async () => {
    let release!: () => void;
    let finished = false;
    const sweeper = createRetentionSweeper({
      tasks: [
        {
          name: 'slow',
          deleteBatch: () =>
            new Promise<number>((resolve) => {
              release = () => {
                finished = true;
                resolve(0);
              };
            }),
        },
      ],
      clock: createFakeClock(),
      logger: createLogger(),
      intervalMs: 0,
    });
    void sweeper.sweep();
    await flush();
    const stopping = sweeper.stop();
    release();
    await stopping;
    expect(finished).toBe(true);
  });
});

describe('createSqlRetentionTask', () => {
  it('deletes by key in a bounded, skip-locked subselect and re-checks the cutoff', async () => {
    const seen: { sql: string; params: readonly unknown[] }[] = [];
    const task = createSqlRetentionTask(
      {
        async exec<R extends object>(sql: string, params: readonly unknown[] = []) {
          seen.push({ sql, params });
          return [{ n: 7 }] as unknown as R[];
        },
      },
      {
        name: 'revocation',
        table: 'revocation',
        key: ['iss', 'jti'],
        where: 'expires_at < $2',
        params: (now) => [new Date(now.getTime() - 1_000)],
      },
    );
    expect(await task.deleteBatch(new Date(5_000), 100)).toBe(7);
    expect(seen[0]?.params).toEqual([100, new Date(4_000)]);
    const sql = seen[0]?.sql.replace(/\s+/g, ' ') ?? '';
    expect(sql).toContain(
      'DELETE FROM revocation WHERE (iss, jti) IN (SELECT iss, jti FROM revocation WHERE expires_at < $2 LIMIT $1 FOR UPDATE SKIP LOCKED) AND expires_at < $2',
    );
  });
});

/** A `RetentionSql` answering every DELETE with `n` = 0 and keeping what it was sent. */
function createRecordingSql() {
  const seen: { sql: string; params: readonly unknown[] }[] = [];
  return {
    seen,
    /** The condition of the last DELETE (what follows the subselect), whitespace collapsed. */
    lastWhere: () =>
      (seen.at(-1)?.sql.replace(/\s+/g, ' ') ?? '').split('SKIP LOCKED) AND ')[1]?.split(' RETURNING')[0],
    async exec<R extends object>(sql: string, params: readonly unknown[] = []) {
      seen.push({ sql, params });
      return [{ n: 0 }] as unknown as R[];
    },
  };
}

describe('the task shapes', () => {
  const now = new Date(100_000);

  it('createExpiryRetentionTask: `expires_at` (or `column`) before now minus `keepSeconds`, and `andWhere`', async () => {
    const db = createRecordingSql();
    const plain = createExpiryRetentionTask(db, { table: 'web_session', key: ['id_hash'] });
    expect(plain.name).toBe('web_session');
    await plain.deleteBatch(now, 10);
    expect(db.lastWhere()).toBe('expires_at < $2');
    expect(db.seen.at(-1)?.params).toEqual([10, now]);

    await createExpiryRetentionTask(db, {
      table: 'issued_auth_token',
      key: ['jti'],
      column: 'exp',
      keepSeconds: 30,
      andWhere: 'NOT EXISTS (SELECT 1)',
    }).deleteBatch(now, 10);
    expect(db.lastWhere()).toBe('exp < $2 AND NOT EXISTS (SELECT 1)');
    expect(db.seen.at(-1)?.params).toEqual([10, new Date(70_000)]);
  });

  it('createPendingRetentionTask: past both its expiry and its terminal answer', async () => {
    const db = createRecordingSql();
    await createPendingRetentionTask(db, {
      table: 'pending_request',
      key: ['id'],
      keepSeconds: 60,
      andWhere: '(result_until IS NULL OR result_until < $2)',
    }).deleteBatch(now, 10);
    expect(db.lastWhere()).toBe(
      'expires_at < $2 AND (terminal_at IS NULL OR terminal_at < $2) AND (result_until IS NULL OR result_until < $2)',
    );
    expect(db.seen.at(-1)?.params).toEqual([10, new Date(40_000)]);
  });

  it('createIssuedAuthTokenRetentionTask: `exp` before now minus `keepSeconds`, whatever audit entry names the token', async () => {
    const db = createRecordingSql();
    const task = createIssuedAuthTokenRetentionTask(db, 30);
    expect(task.name).toBe('issued_auth_token');
    await task.deleteBatch(now, 10);
    expect(db.lastWhere()).toBe('exp < $2');
    expect(db.seen.at(-1)?.params).toEqual([10, new Date(70_000)]);
  });

  it('createAuditRetentionTasks: each table by its own write time; 0 keeps every row (no task)', async () => {
    const tables = [
      { table: 'r3_audit_record', key: ['jti'], column: 'issued_at' },
      { table: 'security_event', key: ['id'], column: 'created_at' },
    ];
    expect(createAuditRetentionTasks(createRecordingSql(), 0, tables)).toEqual([]);
    const db = createRecordingSql();
    const tasks = createAuditRetentionTasks(db, 40, tables);
    expect(tasks.map((t) => t.name)).toEqual(['r3_audit_record', 'security_event']);
    await tasks[0]!.deleteBatch(now, 10);
    expect(db.lastWhere()).toBe('issued_at < $2');
    expect(db.seen.at(-1)?.params).toEqual([10, new Date(60_000)]);
    await tasks[1]!.deleteBatch(now, 10);
    expect(db.lastWhere()).toBe('created_at < $2');
  });

  it('createCommonRetentionTasks: web sessions once expired, revocations past the skew', async () => {
    const db = createRecordingSql();
    const tasks = createCommonRetentionTasks(db);
    expect(tasks.map((t) => t.name)).toEqual(['web_session', 'revocation']);
    await tasks[1]!.deleteBatch(now, 10);
    expect(db.seen.at(-1)?.params).toEqual([10, new Date(100_000 - REVOCATION_SKEW_SECONDS * 1000)]);
  });
});
