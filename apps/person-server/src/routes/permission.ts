import { replyPending } from '@aauth-ref/fastify';
import type { FastifyInstance } from 'fastify';
import type { PermissionService } from '../services/permission-service.js';
import { requestingAgentOf, TOKEN_REQUEST } from './token-requests.js';

/**
 * `POST /permission` (`permission_endpoint`, §Permission Endpoint): signed with the agent token, body
 * covered by `content-digest`, sub-agents refused — the profile of every agent POST at this PS.
 * `200 {"permission"}` when decided at once, else a deferred response the agent polls at `/pending/{id}`.
 */
export function registerPermissionRoute(app: FastifyInstance, permissions: PermissionService): void {
  app.post('/permission', { config: { aauth: TOKEN_REQUEST } }, async (request, reply) => {
    const outcome = await permissions.request(requestingAgentOf(request), request.body);
    if (outcome.kind === 'answered') {
      request.log.info({ event: 'permission.granted', decidedBy: 'approved_tools' }, 'permission granted');
      return reply
        .code(200)
        .header('cache-control', 'no-store')
        .type('application/json; charset=utf-8')
        .send(JSON.stringify(outcome.answer));
    }
    request.log.info({ event: 'permission.requested' }, 'permission put to the person');
    return replyPending(reply, {
      location: `/pending/${outcome.record}`,
      retryAfter: outcome.retryAfter,
      requirement: outcome.requirement,
      body: { status: 'pending' },
    });
  });
}
