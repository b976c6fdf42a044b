import { DWK, Forbidden, InvalidRequest, NotFound } from '@aauth-ref/core';
import type { RouteAAuthConfig } from '@aauth-ref/fastify';
import type { FastifyInstance } from 'fastify';
import type { AppContext } from './context.js';

/**
 * `POST /revoke` (`revocation_endpoint`, §Token Revocation). Callers identify themselves with
 * `jwks_uri` (their issuer's published key); only the issuer of the token may revoke it. The
 * revocation is keyed by `(iss, jti)` and consulted by the verification hook on every request.
 */
const REVOKE: RouteAAuthConfig = {
  schemes: ['jwks_uri'],
  jwksUriDwks: [DWK.agent, DWK.person, DWK.access],
  requireBodyComponents: true,
  stateChanging: true,
};

export function registerRevokeRoute(app: FastifyInstance, context: AppContext): void {
  const { prisma, issuer } = context;

  /** Tokens this origin issued are recognized from its records; others only by their issuer's word. */
  async function isKnown(jti: string): Promise<boolean> {
    const [agent, person, auth] = await Promise.all([
      prisma.issuedAgentToken.findUnique({ where: { jti }, select: { jti: true } }),
      prisma.personTokenRecord.findUnique({ where: { jti }, select: { jti: true } }),
      prisma.issuedAuthToken.findUnique({ where: { jti }, select: { jti: true } }),
    ]);
    return agent !== null || person !== null || auth !== null;
  }

  app.post('/revoke', { config: { aauth: REVOKE } }, async (request, reply) => {
    const body = request.body as Record<string, unknown> | undefined;
    const iss = body?.iss;
    const jti = body?.jti;
    if (typeof iss !== 'string' || iss === '' || typeof jti !== 'string' || jti === '' || jti.length > 256) {
      throw new InvalidRequest('iss and jti are required strings.');
    }
    const signer = request.aauth?.signer;
    // §Token Revocation: "MUST only accept revocation from the issuer of the token being revoked".
    if (signer?.scheme !== 'jwks_uri' || signer.id !== iss) {
      throw new Forbidden('Only the issuer of a token may revoke it here.');
    }
    if (iss === issuer && !(await isKnown(jti))) throw new NotFound('No such token.');
    await prisma.revocation.upsert({
      where: { iss_jti: { iss, jti } },
      create: { iss, jti, revokedAt: new Date(context.clock.now()) },
      update: {},
    });
    if (iss === issuer) {
      await prisma.issuedAuthToken.updateMany({
        where: { jti, revokedAt: null },
        data: { revokedAt: new Date(context.clock.now()) },
      });
    }
    request.log.info({ event: 'token.revoked' }, 'token revoked');
    return reply.code(200).header('cache-control', 'no-store').send({});
  });
}
