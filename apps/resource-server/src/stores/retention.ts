import type { Queryable } from '@aauth-ref/db';
import {
  createCommonRetentionTasks,
  createExpiryRetentionTask,
  createPendingRetentionTask,
  type RetentionTask,
} from '@aauth-ref/fastify';

/** How long each kind of row outlives its own expiry (docs/reliability.md, *Retention*). */
export interface ResourceRetentionSettings {
  /** `PENDING_RETENTION_SECONDS`: a late poll still gets its terminal answer (410), not 404. */
  readonly pendingRetentionSeconds: number;
  /** `TOKEN_RECORD_RETENTION_SECONDS`: records of accepted tokens and session grants past their end. */
  readonly tokenRecordRetentionSeconds: number;
}

export { REVOCATION_SKEW_SECONDS } from '@aauth-ref/fastify';

/**
 * The resource's tables that grow per request, each with its cutoff. The R3 tables' tasks are in
 * `stores/r3-retention.ts` (same sweeper), the replay cache is purged by `@aauth-ref/db`; notes and
 * users are the demo's own data and are kept.
 */
export function createResourceRetentionTasks(
  db: Queryable,
  settings: ResourceRetentionSettings,
): RetentionTask[] {
  const pending = settings.pendingRetentionSeconds;
  const records = settings.tokenRecordRetentionSeconds;
  return [
    // §Deferred Delivery: a completed held invocation keeps its result until the auth token's `exp`
    // (`result_until`); every row is kept past its expiry and its terminal answer for late polls.
    createPendingRetentionTask(db, {
      table: 'pending_request',
      key: ['id'],
      keepSeconds: pending,
      andWhere: '(result_until IS NULL OR result_until < $2)',
    }),
    createPendingRetentionTask(db, { table: 'chained_request', key: ['id'], keepSeconds: pending }),
    createExpiryRetentionTask(db, {
      table: 'person_token_record',
      key: ['iss', 'jti'],
      column: 'exp',
      keepSeconds: records,
    }),
    createExpiryRetentionTask(db, {
      table: 'auth_token_record',
      key: ['iss', 'jti'],
      column: 'exp',
      keepSeconds: records,
    }),
    // `expires_at` is the grant's absolute end: no token of the grant is accepted after it.
    createExpiryRetentionTask(db, { table: 'session_token', key: ['token_hash'], keepSeconds: records }),
    ...createCommonRetentionTasks(db),
  ];
}
