import type { Queryable } from '@aauth-ref/db';
import {
  createAuditRetentionTasks,
  createCommonRetentionTasks,
  createIssuedAuthTokenRetentionTask,
  createPendingRetentionTask,
  type RetentionTask,
} from '@aauth-ref/fastify';

/** How long each kind of row outlives its own expiry (docs/reliability.md, *Retention*). */
export interface AccessServerRetentionSettings {
  /** `PENDING_RETENTION_SECONDS`: a late poll still gets its terminal answer (410), not 404. */
  readonly pendingRetentionSeconds: number;
  /** `TOKEN_RECORD_RETENTION_SECONDS`: records of issued auth tokens past their `exp`. */
  readonly tokenRecordRetentionSeconds: number;
  /** `AUDIT_RETENTION_SECONDS`: R3 audit records after `issued_at`; `0` keeps them forever. */
  readonly auditRetentionSeconds: number;
}

export { REVOCATION_SKEW_SECONDS } from '@aauth-ref/fastify';

/**
 * The AS tables that grow per request, each with its cutoff. R3 audit records (R3 §Audit Log
 * Integrity) outlive the token records they name and are kept `AUDIT_RETENTION_SECONDS`; trust,
 * policies, persons, bindings and billing relationships are configuration and are kept.
 */
export function createAccessServerRetentionTasks(
  db: Queryable,
  settings: AccessServerRetentionSettings,
): RetentionTask[] {
  return [
    // Interaction codes and billing ids live on the row and go with it.
    createPendingRetentionTask(db, {
      table: 'pending_request',
      key: ['id'],
      keepSeconds: settings.pendingRetentionSeconds,
    }),
    createIssuedAuthTokenRetentionTask(db, settings.tokenRecordRetentionSeconds),
    ...createAuditRetentionTasks(db, settings.auditRetentionSeconds, [
      { table: 'r3_audit_record', key: ['jti'], column: 'issued_at' },
    ]),
    ...createCommonRetentionTasks(db),
  ];
}
