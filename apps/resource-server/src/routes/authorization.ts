import { type RouteAAuthConfig, replyRequirement } from '@aauth-ref/fastify';
import type { FastifyInstance } from 'fastify';
import { AUTHORIZE_PATH } from '../metadata.js';
import { parseAuthorizationRequest } from '../services/authorization-request.js';
import { type AppContext, presentedOf } from './context.js';

/**
 * `POST /authorize` (`authorization_endpoint`, §Authorization Endpoint Request): a signed request with
 * a person token, `scope` and optional `account`; answers `{ resource_token }` (§Response with
 * Resource Token). Without a person token, `401 requirement=person-token` (§Person Token Required).
 */
const AUTHORIZE: RouteAAuthConfig = { allowUnsigned: true, requireBodyComponents: true };

export function registerAuthorizationRoute(app: FastifyInstance, context: AppContext): void {
  app.post(AUTHORIZE_PATH, { config: { aauth: AUTHORIZE } }, async (request, reply) => {
    const presented = presentedOf(request);
    if (presented?.kind !== 'person') return replyRequirement(reply, { requirement: 'person-token' });
    const person = await context.access.acceptPersonToken(presented);
    const { scopes, account } = parseAuthorizationRequest(request.body, context.knownScopes);
    const resourceToken = context.access.issueResourceToken({
      person,
      agentJkt: presented.keyThumbprint,
      scopes,
      ...(account === undefined ? {} : { account }),
    });
    request.log.info(
      { event: 'resource_token.issued', ps: person.iss, scope: scopes.join(' ') },
      'resource token issued',
    );
    return reply.header('cache-control', 'no-store').send({ resource_token: resourceToken });
  });
}
