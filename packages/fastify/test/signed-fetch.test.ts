import type { AddressInfo } from 'node:net';
import { createLocalKeyResolver, createTokenVerifier, DEV, DWK, systemClock } from '@aauth-ref/core';
import { createTestIssuer, makeAgentToken, signedFetch } from '@aauth-ref/testkit';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { aauthPlugin } from '../src/index.js';

describe('signedFetch over real loopback HTTP', () => {
  it('a request signed for the listening origin verifies', async () => {
    const ap = createTestIssuer({ dwk: DWK.agent });
    const keys = createLocalKeyResolver([ap]);
    const app = Fastify();
    // The plugin needs the issuer (and so the port) before listen: borrow a free loopback port first.
    const probe = Fastify();
    await probe.listen({ port: 0, host: '127.0.0.1' });
    const port = (probe.server.address() as AddressInfo).port;
    await probe.close();
    const issuer = `http://127.0.0.1:${port}`;
    await app.register(aauthPlugin, {
      issuer,
      identifierPolicy: DEV,
      clock: systemClock,
      keys,
      tokens: createTokenVerifier({ clock: systemClock, keys, identifierPolicy: DEV }),
      role: 'person-server',
    });
    app.post('/echo', { config: { aauth: { requireBodyComponents: true } } }, async (request) => ({
      sub: request.aauth?.claims?.sub,
      body: request.body,
    }));
    await app.listen({ port, host: '127.0.0.1' });
    try {
      const agent = makeAgentToken({ issuer: ap });
      const res = await signedFetch(`${issuer}/echo`, {
        method: 'POST',
        body: { hello: 'world' },
        key: agent.key,
        signatureKey: agent.jwt,
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ sub: agent.claims.sub, body: { hello: 'world' } });
    } finally {
      await app.close();
    }
  });
});
