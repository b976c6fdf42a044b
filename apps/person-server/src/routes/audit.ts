import type { FastifyInstance } from 'fastify';
import type { AuditService } from '../services/audit-service.js';
import { requestingAgentOf, TOKEN_REQUEST } from './token-requests.js';

/**
 * `POST /audit` (`audit_endpoint`, §Audit Endpoint): signed with the agent token, body covered by
 * `content-digest`; `201 Created` once the record is in the mission log.
 */
export function registerAuditRoute(app: FastifyInstance, audits: AuditService): void {
  app.post('/audit', { config: { aauth: TOKEN_REQUEST } }, async (request, reply) => {
    await audits.record(requestingAgentOf(request), request.body);
    request.log.info({ event: 'audit.recorded' }, 'audit record added to the mission log');
    return reply.code(201).header('cache-control', 'no-store').send();
  });
}
