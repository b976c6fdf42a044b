import { type RouteAAuthConfig, replyRequirement } from '@aauth-ref/fastify';
import type { FastifyInstance } from 'fastify';
import { AUTHORIZE_PATH } from '../metadata.js';
import { parseAuthorizationRequest } from '../services/authorization-request.js';
import { type AppContext, presentedOf } from './context.js';

/**
 * `POST /authorize` (`authorization_endpoint`, §Authorization Endpoint Request): a signed request with
 * a person token, `scope` and optional `account`; answers `{ resource_token }` (§Response with
 * Resource Token). Without a person token, `401 requirement=person-token` (§Person Token Required).
 * With `r3_operations` (R3 §Authorization Endpoint Extensions) the token also carries `r3_uri` and
 * `r3_s256` of one document composed for the requested operations; an operation this resource
 * does not define is `400 invalid_scope`, a vocabulary it does not advertise `400 invalid_request`.
 */
const AUTHORIZE: RouteAAuthConfig = { allowUnsigned: true, requireBodyComponents: true };

export function registerAuthorizationRoute(app: FastifyInstance, context: AppContext): void {
  app.post(AUTHORIZE_PATH, { config: { aauth: AUTHORIZE } }, async (request, reply) => {
    const presented = presentedOf(request);
    if (presented?.kind !== 'person') return replyRequirement(reply, { requirement: 'person-token' });
    const person = await context.access.acceptPersonToken(presented);
    const parsed = parseAuthorizationRequest(request.body, context.knownScopes);
    const { account } = parsed;
    let scopes = parsed.scopes;
    let r3: { r3_uri: string; r3_s256: string } | undefined;
    if (parsed.r3_operations !== undefined) {
      // R3 §Operation Validation: against this resource's own definitions, before any token is minted.
      const { vocabulary, operations } = context.r3.parseRequestedOperations(parsed.r3_operations);
      r3 = await context.r3.classDocument(vocabulary, operations, account);
      // Both MAY be present (R3 §Resource Token Extensions); the scopes also pick the audience.
      scopes = context.r3.scopesOf(operations, scopes.join(' '));
    }
    const resourceToken = await context.access.mintResourceToken({
      person,
      agentJkt: presented.keyThumbprint,
      scopes,
      ...(account === undefined ? {} : { account }),
      ...(r3 === undefined ? {} : { r3 }),
    });
    request.log.info(
      {
        event: 'resource_token.issued',
        ps: person.iss,
        scope: scopes.join(' '),
        ...(r3 === undefined ? {} : { r3_s256: r3.r3_s256 }),
      },
      'resource token issued',
    );
    return reply.header('cache-control', 'no-store').send({ resource_token: resourceToken });
  });
}
