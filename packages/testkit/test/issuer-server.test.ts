import {
  createEgressPolicy,
  createHttpKeyResolver,
  createTokenVerifier,
  DEV,
  DWK,
  TokenVerificationError,
} from '@aauth-ref/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createFakeClock,
  makeKeyPair,
  startTestAgentProvider,
  startTestIssuerServer,
  type TestAgentProvider,
} from '../src/index.js';

describe('startTestAgentProvider', () => {
  let ap: TestAgentProvider;
  beforeAll(async () => {
    ap = await startTestAgentProvider({ host: '127.0.0.1' });
  });
  afterAll(() => ap.close());

  function httpVerifier() {
    const clock = createFakeClock(Date.now());
    const keys = createHttpKeyResolver({ policy: createEgressPolicy({ devMode: true }), clock });
    return { keys, tokens: createTokenVerifier({ clock, keys, identifierPolicy: DEV }), clock };
  }

  it('serves aauth-agent.json with a loopback issuer and a JWKS core can resolve (§Metadata Documents)', async () => {
    expect(ap.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const { keys } = httpVerifier();
    const metadata = await keys.metadata(ap.issuer, DWK.agent);
    expect(metadata.issuer).toBe(ap.issuer);
    expect(metadata.jwks_uri).toBe(`${ap.issuer}/jwks.json`);
    const key = await keys.resolveKey(ap.issuer, DWK.agent, ap.signingKey.kid);
    expect(key.thumbprint).toBe(ap.signingKey.thumbprint);
  });

  it('mints agent tokens that verify through HTTP discovery', async () => {
    const agentKey = makeKeyPair();
    const { tokens, clock } = httpVerifier();
    const jwt = ap.mintAgentToken({ cnf: agentKey, ps: 'https://ps.example', clock });
    const verified = await tokens.verify(jwt, { kinds: ['agent'] });
    expect(verified.claims.sub).toBe(`aauth:agent@${new URL(ap.issuer).host}`);
    expect(verified.claims.ps).toBe('https://ps.example');
    expect(verified.cnfKey.thumbprint).toBe(agentKey.thumbprint);
    expect(ap.hits.get('/.well-known/aauth-agent.json')).toBeGreaterThan(0);
  });

  it('a metadata document naming another issuer is refused with issuer_mismatch', async () => {
    const other = await startTestIssuerServer({ dwk: DWK.agent });
    try {
      other.setMetadata({ issuer: 'http://127.0.0.1:1', jwks_uri: other.jwksUri });
      const { tokens, clock } = httpVerifier();
      const jwt = other.issue(
        'agent',
        { sub: `aauth:a@${new URL(other.issuer).host}`, cnf: { jwk: makeKeyPair().jwk } },
        { clock },
      );
      const err = await tokens.verify(jwt, { kinds: ['agent'] }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TokenVerificationError);
      expect((err as TokenVerificationError).reason).toBe('issuer_mismatch');
    } finally {
      await other.close();
    }
  });

  it('serves other roles: a PS publishes aauth-person.json with its endpoints', async () => {
    const ps = await startTestIssuerServer({
      dwk: DWK.person,
      metadata: (issuer) => ({ person_token_endpoint: `${issuer}/person-token` }),
    });
    try {
      const { keys } = httpVerifier();
      const metadata = await keys.metadata(ps.issuer, DWK.person);
      expect(metadata.person_token_endpoint).toBe(`${ps.issuer}/person-token`);
    } finally {
      await ps.close();
    }
  });
});
