import type { Queryable } from '@aauth-ref/db';
import {
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
}

export { REVOCATION_SKEW_SECONDS } from '@aauth-ref/fastify';

/**
 * The AS tables that grow per request, each with its cutoff. Auth tokens with an R3 audit record are
 * kept (R3 §Audit Log Integrity; deleting the token would cascade to its audit record); trust,
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
    ...createCommonRetentionTasks(db),
  ];
}
