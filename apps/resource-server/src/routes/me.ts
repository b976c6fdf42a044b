import type { RouteAAuthConfig } from '@aauth-ref/fastify';
import type { FastifyInstance } from 'fastify';
import { type AppContext, presentedOf, replyChallenge } from './context.js';

/**
 * `GET /api/me` — person identity access (§Person Identity Access): serves on a verified person token
 * for this resource (or an auth token for it, which identifies the same person). A person token for
 * another resource is `400 invalid_person_token`; without either, `401 requirement=person-token`.
 */
const ME: RouteAAuthConfig = { allowUnsigned: true };

export function registerMeRoute(app: FastifyInstance, context: AppContext): void {
  app.get('/api/me', { config: { aauth: ME } }, async (request, reply) => {
    const decision = await context.access.requirePerson(presentedOf(request));
    if (!decision.granted) return replyChallenge(reply, decision);
    return reply.header('cache-control', 'no-store').send({
      iss: decision.person.iss,
      sub: decision.person.sub,
      ...(decision.tenant === undefined ? {} : { tenant: decision.tenant }),
      ...(decision.mission_s256 === undefined ? {} : { mission_s256: decision.mission_s256 }),
      via: decision.via,
      notes_count: await context.notes.count(decision.person),
    });
  });
}
