import { Writable } from 'node:stream';
import { createLocalKeyResolver, createTokenVerifier, DWK, Forbidden, STRICT } from '@aauth-ref/core';
import { createFakeClock, createTestIssuer, type FakeClock, type TestIssuer } from '@aauth-ref/testkit';
import Fastify, { type FastifyInstance } from 'fastify';
import {
  type AAuthRole,
  aauthPlugin,
  assertAudience,
  createLoggerOptions,
  createMemoryReplayCache,
  replyPending,
  replyRequirement,
} from '../src/index.js';

export const ISSUERS: Readonly<Record<AAuthRole, string>> = {
  resource: 'https://resource.example',
  'person-server': 'https://ps.example',
  'access-server': 'https://as.example',
};

export interface TestApp {
  readonly app: FastifyInstance;
  readonly clock: FakeClock;
  readonly issuer: string;
  readonly ap: TestIssuer;
  readonly ps: TestIssuer;
  readonly as: TestIssuer;
  readonly revoked: Set<string>;
  /** Every log line written, as text. */
  readonly logs: string[];
}

/** A small server with one route per behaviour under test, built as a real server would build it. */
export async function buildTestApp(role: AAuthRole): Promise<TestApp> {
  const clock = createFakeClock(Date.now());
  const issuer = ISSUERS[role];
  const ap = createTestIssuer({ dwk: DWK.agent });
  const ps = createTestIssuer({ dwk: DWK.person, issuer: ISSUERS['person-server'] });
  const as = createTestIssuer({ dwk: DWK.access, issuer: ISSUERS['access-server'] });
  const keys = createLocalKeyResolver([ap, ps, as]);
  const tokens = createTokenVerifier({ clock, keys, identifierPolicy: STRICT });
  const revoked = new Set<string>();
  const logs: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(chunk.toString('utf8'));
      done();
    },
  });

  const app = Fastify({ logger: createLoggerOptions('debug', { stream }), bodyLimit: 64 * 1024 });
  await app.register(aauthPlugin, {
    issuer,
    identifierPolicy: STRICT,
    clock,
    keys,
    tokens,
    role,
    replayCache: createMemoryReplayCache({ clock }),
    revocations: { isRevoked: async (iss, jti) => revoked.has(`${iss} ${jti}`) },
    bodyLimit: 1024,
  });

  // A PS/AS-style endpoint: signed JSON body, agent tokens only, replay-protected.
  app.post(
    '/token',
    { config: { aauth: { requireBodyComponents: true, stateChanging: true, rejectSubAgents: true } } },
    async (request) => ({
      sub: request.aauth?.claims?.sub,
      kind: request.aauth?.tokenKind,
      body: request.body,
    }),
  );
  // Whatever signed the request, report it.
  app.get('/whoami', { config: { aauth: {} } }, async (request) => {
    const context = request.aauth!;
    return {
      scheme: context.scheme,
      tokenKind: context.tokenKind,
      sub: context.claims?.sub,
      keyThumbprint: context.keyThumbprint,
      label: context.label,
      created: context.created,
    };
  });
  // A resource endpoint: unsigned requests reach it and are challenged.
  app.get('/api', { config: { aauth: { allowUnsigned: true } } }, async (request, reply) => {
    if (!request.aauth) return replyRequirement(reply, { requirement: 'agent-token' });
    assertAudience(request);
    return { kind: request.aauth.tokenKind };
  });
  app.get('/server-only', { config: { aauth: { schemes: ['jwks_uri', 'hwk'] } } }, async () => ({
    ok: true,
  }));
  app.post(
    '/schema',
    {
      schema: {
        body: {
          type: 'object',
          required: ['resource'],
          properties: { resource: { type: 'string' } },
        },
      },
    },
    async () => ({ ok: true }),
  );
  app.post('/echo', async (request) => ({
    raw: request.rawBody?.toString('base64'),
    isBuffer: Buffer.isBuffer(request.body),
  }));
  app.get('/boom', async () => {
    throw new Error('ECONNREFUSED 10.0.0.5:5432 password=hunter2');
  });
  app.get('/forbidden', async (_request, reply) => {
    reply.header('signature-error', 'error=invalid_signature').header('accept-signature-scheme', 'jwt');
    throw new Forbidden('Not for you.');
  });
  app.post('/pending', async (_request, reply) =>
    replyPending(reply, {
      location: '/pending/abc',
      retryAfter: 5,
      requirement: { requirement: 'approval' },
      body: { status: 'pending' },
    }),
  );
  await app.ready();
  return { app, clock, issuer, ap, ps, as, revoked, logs };
}
