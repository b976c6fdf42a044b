import type { Queryable } from '@aauth-ref/db';
import { createSqlRetentionTask, type RetentionTask } from '@aauth-ref/fastify';

/**
 * The R3 tables' retention tasks for the resource's sweeper (docs/spec-decisions.md, *R3 retention*),
 * in this order:
 * - `r3_document`: past `retain_until` — the latest `exp` of a resource token naming the document, or
 *   of the per-call auth token that ran it, plus `R3_RETENTION_SECONDS`; its readers go with it
 *   (`ON DELETE CASCADE`);
 * - `r3_per_call_execution`: once the per-call token's `exp` is past and its proposal is gone. Running
 *   the call kept the proposal at least that long, and while the proposal can be named its record is
 *   what refuses a second run (R3 §Per-Call Proposals, Flow step 4).
 */
export function createR3RetentionTasks(db: Queryable): RetentionTask[] {
  return [
    createSqlRetentionTask(db, {
      name: 'r3_document',
      table: 'r3_document',
      key: ['s256'],
      where: 'retain_until <= $2',
      params: (now) => [now],
    }),
    createSqlRetentionTask(db, {
      name: 'r3_per_call_execution',
      table: 'r3_per_call_execution',
      key: ['r3_s256'],
      where:
        'expires_at <= $2 AND NOT EXISTS (SELECT 1 FROM r3_document WHERE r3_document.s256 = r3_per_call_execution.r3_s256)',
      params: (now) => [now],
    }),
  ];
}
