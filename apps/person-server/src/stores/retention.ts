import type { Queryable } from '@aauth-ref/db';
import {
  createAuditRetentionTasks,
  createCommonRetentionTasks,
  createExpiryRetentionTask,
  createIssuedAuthTokenRetentionTask,
  createPendingRetentionTask,
  type RetentionTask,
} from '@aauth-ref/fastify';

/** How long each kind of row outlives its own expiry (docs/reliability.md, *Retention*). */
export interface PersonServerRetentionSettings {
  /** `PENDING_RETENTION_SECONDS`: a late poll still gets its terminal answer (410), not 404. */
  readonly pendingRetentionSeconds: number;
  /** `TOKEN_RECORD_RETENTION_SECONDS`: records of issued tokens past their `exp`. */
  readonly tokenRecordRetentionSeconds: number;
  /** `RESOURCE_TOKEN_MAX_LIFETIME_SECONDS`: the floor for person-token records (§Person Token Endpoint). */
  readonly resourceTokenMaxLifetimeSeconds: number;
  /** `AUDIT_RETENTION_SECONDS`: audit rows after they were written; `0` keeps them forever. */
  readonly auditRetentionSeconds: number;
}

export { REVOCATION_SKEW_SECONDS } from '@aauth-ref/fastify';
/** Longer than any window of the database rate limiter (the mission-failure window is 10 min). */
export const RATE_LIMIT_RETENTION_SECONDS = 24 * 3600;

/**
 * The PS tables that grow per request, each with its cutoff. The audit tables (R3 audit records, the
 * governance log an agent's permission, audit and interaction requests write, the security log) are
 * kept `AUDIT_RETENTION_SECONDS` after they were written, independent of what they name. Missions and
 * their logs are kept: a mission is a person's approval and its log ends with it. So are enrollments: a
 * row is written only at a person's approval (a pending or denied enrollment is a `pending_request`),
 * and a revoked one is what keeps its durable key refused at `/agent/enroll`.
 */
export function createPersonServerRetentionTasks(
  db: Queryable,
  settings: PersonServerRetentionSettings,
): RetentionTask[] {
  const records = settings.tokenRecordRetentionSeconds;
  return [
    // Interaction codes live on the row; a federated request goes with it (ON DELETE CASCADE).
    createPendingRetentionTask(db, {
      table: 'pending_request',
      key: ['id'],
      keepSeconds: settings.pendingRetentionSeconds,
    }),
    // §Person Token Endpoint: "retained beyond the person token's exp by at least the longest resource
    // token lifetime the PS accepts", whatever the operator set for the other token records.
    createExpiryRetentionTask(db, {
      table: 'person_token_record',
      key: ['jti'],
      column: 'exp',
      keepSeconds: Math.max(records, settings.resourceTokenMaxLifetimeSeconds),
    }),
    createIssuedAuthTokenRetentionTask(db, records),
    createExpiryRetentionTask(db, { table: 'issued_agent_token', key: ['jti'], keepSeconds: records }),
    createExpiryRetentionTask(db, { table: 'seen_agent_token', key: ['iss', 'jti'] }),
    createExpiryRetentionTask(db, {
      table: 'rate_limit_attempt',
      key: ['id'],
      column: 'at',
      keepSeconds: RATE_LIMIT_RETENTION_SECONDS,
    }),
    ...createAuditRetentionTasks(db, settings.auditRetentionSeconds, [
      { table: 'r3_audit_record', key: ['jti'], column: 'issued_at' },
      { table: 'governance_log_entry', key: ['id'], column: 'created_at' },
      { table: 'security_event', key: ['id'], column: 'created_at' },
    ]),
    ...createCommonRetentionTasks(db),
  ];
}
