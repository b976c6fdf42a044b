import type { RouteAAuthConfig } from '@aauth-ref/fastify';
import type { FastifyInstance } from 'fastify';
import { requireNotesRead } from '../services/r3-access.js';
import { type AppContext, presentedOf, replyChallenge } from './context.js';

/**
 * `GET /api/whoami` — who an auth token speaks for at this resource (§PS Authorization Access): the
 * person `(ps, sub)`, the scope and the notebook the notes routes would act on. It needs the same
 * auth token as `GET /api/notes` (scope `notes.read`, or `listNotes` granted by R3 claims) and earns
 * the same challenges, but does no database work, so it is the resource hot path of
 * docs/benchmarks.md without the application's own read: signature, token, revocation, `aud`, issuer
 * trust and the grant, nothing else.
 */
const WHOAMI: RouteAAuthConfig = { allowUnsigned: true };

export function registerWhoamiRoute(app: FastifyInstance, context: AppContext): void {
  app.get('/api/whoami', { config: { aauth: WHOAMI } }, async (request, reply) => {
    const presented = presentedOf(request);
    const decision = await requireNotesRead(context.access, context.r3, presented);
    if (!decision.granted) return replyChallenge(reply, decision);
    // Granted only on an auth token: its claims, as verified.
    const claims = presented?.kind === 'auth' ? presented.claims : undefined;
    return reply.header('cache-control', 'no-store').send({
      iss: decision.auth.iss,
      ps: decision.person.iss,
      sub: decision.person.sub,
      scope: decision.auth.scope ?? '',
      notebook: decision.notebook,
      exp: decision.auth.exp,
      ...(claims?.tenant === undefined ? {} : { tenant: claims.tenant }),
      ...(claims?.mission_s256 === undefined ? {} : { mission_s256: claims.mission_s256 }),
    });
  });
}
