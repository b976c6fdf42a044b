import {
  createLocalKeyResolver,
  createTokenVerifier,
  DEV,
  DWK,
  TokenVerificationError,
} from '@aauth-ref/core';
import { describe, expect, it } from 'vitest';
import {
  createFakeClock,
  createTestIssuer,
  makeAgentToken,
  makeAuthToken,
  makeKeyPair,
  makePersonToken,
  makeRawJwt,
  makeResourceToken,
} from '../src/index.js';

describe('token factories', () => {
  const clock = createFakeClock();
  const ap = createTestIssuer({ dwk: DWK.agent });
  const ps = createTestIssuer({ dwk: DWK.person });
  const as = createTestIssuer({ dwk: DWK.access });
  const rs = createTestIssuer({ dwk: DWK.resource });
  const keys = createLocalKeyResolver([ap, ps, as, rs]);
  const tokens = createTokenVerifier({ clock, keys, identifierPolicy: DEV });

  it('mints an agent token that verifies with core, bound to the returned key', async () => {
    const made = makeAgentToken({ issuer: ap, clock, ps: ps.issuer });
    const verified = await tokens.verify(made.jwt, { kinds: ['agent'] });
    expect(verified.kind).toBe('agent');
    expect(verified.claims.iss).toBe(ap.issuer);
    expect(verified.claims.ps).toBe(ps.issuer);
    expect(verified.claims.sub).toMatch(/^aauth:agent-[0-9a-f]{8}@agent\.example$/);
    expect(verified.cnfKey.thumbprint).toBe(made.key.thumbprint);
    expect(made.claims.jti).toBe(verified.claims.jti);
  });

  it('mints person, resource and auth tokens that verify with their audience', async () => {
    const person = makePersonToken({ issuer: ps, clock, aud: rs.issuer });
    expect((await tokens.verify(person.jwt, { kinds: ['person'], audience: rs.issuer })).claims.aud).toBe(
      rs.issuer,
    );
    const agentKey = makeKeyPair();
    const resource = makeResourceToken({ issuer: rs, clock, aud: ps.issuer, agentKey });
    const verifiedResource = await tokens.verify(resource.jwt, { kinds: ['resource'], audience: ps.issuer });
    expect(verifiedResource.claims.agent_jkt).toBe(agentKey.thumbprint);
    const auth = makeAuthToken({ issuer: as, clock, aud: rs.issuer, scope: 'read write' });
    const verifiedAuth = await tokens.verify(auth.jwt, { kinds: ['auth'], audience: rs.issuer });
    expect(verifiedAuth.header.typ).toBe('aa-auth+jwt');
    expect(verifiedAuth.claims.dwk).toBe(DWK.access);
    expect(verifiedAuth.claims.scope).toBe('read write');
  });

  it('applies claim overrides and lifetimes', () => {
    const made = makeAgentToken({ issuer: ap, clock, lifetimeSeconds: 60, claims: { jti: 'fixed-jti' } });
    expect(made.claims.jti).toBe('fixed-jti');
    expect(made.claims.exp - made.claims.iat).toBe(60);
  });

  it('a token signed with an unpublished key does not verify', async () => {
    const made = makeAgentToken({ issuer: ap, clock, signer: makeKeyPair('Ed25519', ap.signingKey.kid) });
    await expect(tokens.verify(made.jwt, { kinds: ['agent'] })).rejects.toBeInstanceOf(
      TokenVerificationError,
    );
  });

  it('makeRawJwt signs arbitrary headers for forgery tests (EdDSA is refused)', async () => {
    const holder = makeKeyPair();
    const now = Math.floor(clock.now() / 1000);
    const jwt = makeRawJwt(
      { alg: 'EdDSA', typ: 'aa-agent+jwt', kid: ap.signingKey.kid },
      {
        iss: ap.issuer,
        dwk: DWK.agent,
        sub: 'aauth:a@agent.example',
        jti: 'j',
        iat: now,
        exp: now + 60,
        cnf: { jwk: holder.jwk },
      },
      ap.signingKey,
    );
    const err = await tokens.verify(jwt, { kinds: ['agent'] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TokenVerificationError);
    expect((err as TokenVerificationError).reason).toBe('alg');
  });
});
