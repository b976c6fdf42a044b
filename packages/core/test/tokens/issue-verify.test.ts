import { importJWK, jwtVerify, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import type { SigningAlg } from '../../src/jwk.js';
import { DWK, MAX_LIFETIME_SECONDS, TOKEN_TYP, type TokenKind } from '../../src/tokens/claims.js';
import { completeTokenClaims, issueToken } from '../../src/tokens/issue.js';
import { decodeJwtUnverified } from '../../src/tokens/jwt-codec.js';
import { tokenKindOfTyp } from '../../src/tokens/verify.js';
import { AGENT_ID, AP, AS, createWorld, headerOf, NOW, PS, payloadOf, RS } from './helpers.js';

const KINDS: TokenKind[] = ['agent', 'person', 'resource', 'auth'];
const ALGS: [SigningAlg, SigningAlg][] = [
  ['Ed25519', 'Ed25519'],
  ['ES256', 'ES256'],
  ['Ed25519', 'ES256'],
  ['ES256', 'Ed25519'],
];

describe('issueToken + createTokenVerifier: happy path per kind', () => {
  for (const [issuerAlg, holderAlg] of ALGS) {
    for (const kind of KINDS) {
      it(`${kind} token, issuer ${issuerAlg}, cnf ${holderAlg}`, async () => {
        const w = createWorld(issuerAlg, holderAlg);
        const jwt = w.issue(kind);
        const header = headerOf(jwt);
        expect(header).toEqual({ alg: issuerAlg, typ: TOKEN_TYP[kind], kid: w.signerOf(kind).kid });
        const audience = kind === 'agent' ? undefined : kind === 'resource' ? PS : RS;
        const verified = await w.verifier.verify(jwt, { kinds: [kind], audience });
        expect(verified.kind).toBe(kind);
        expect(verified.raw).toBe(jwt);
        expect(verified.claims.iat).toBe(NOW);
        expect(verified.claims.exp).toBe(NOW + MAX_LIFETIME_SECONDS[kind]);
        if (kind === 'resource') {
          expect(verified.cnfKey).toBeUndefined();
        } else {
          expect(verified.cnfKey?.alg).toBe(holderAlg);
          expect(verified.cnfKey?.thumbprint).toBe(w.holder.thumbprint);
        }
        expect(w.resolver.calls).toEqual([
          { iss: payloadOf(jwt).iss, dwk: payloadOf(jwt).dwk, kid: header.kid, refresh: false },
        ]);
      });
    }
  }

  it('fills dwk per kind, a 128-bit base64url jti, and iat from the clock', () => {
    const w = createWorld();
    const expected = { agent: DWK.agent, person: DWK.person, resource: DWK.resource, auth: DWK.access };
    for (const kind of KINDS) {
      const claims = payloadOf(w.issue(kind));
      expect(claims.dwk).toBe(expected[kind]);
      expect(claims.jti).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(claims.iat).toBe(NOW);
    }
    expect(payloadOf(w.issue('agent')).jti).not.toBe(payloadOf(w.issue('agent')).jti);
  });

  it('accepts an auth token from a PS (dwk aauth-person.json) — §Auth Token Structure', async () => {
    const w = createWorld();
    const jwt = issueToken('auth', { ...w.baseClaims('auth'), iss: PS, dwk: DWK.person }, w.signers.ps, {
      clock: w.clock,
    });
    const v = await w.verifier.verify(jwt, { kinds: ['auth'], audience: RS });
    expect(v.claims.iss).toBe(PS);
  });

  it('verifies a sub-agent token with parent_agent — §Sub-Agent Identity', async () => {
    const w = createWorld();
    const jwt = w.issue('agent', {
      sub: 'aauth:planner.7f3c+search1@agent.example',
      parent_agent: 'aauth:planner.7f3c@agent.example',
    });
    const v = await w.verifier.verify(jwt, { kinds: ['agent'] });
    expect(v.claims.parent_agent).toBe('aauth:planner.7f3c@agent.example');
  });

  it('verifies a resource token with interaction, without scope (R3)', async () => {
    const w = createWorld();
    const claims = { ...w.baseClaims('resource'), interaction: { url: `${RS}/interact`, code: 'ABCD-1234' } };
    delete claims.scope;
    const jwt = issueToken('resource', claims, w.signers.rs, { clock: w.clock });
    const v = await w.verifier.verify(jwt, { kinds: ['resource'], audience: PS });
    expect(v.claims.interaction).toEqual({ url: `${RS}/interact`, code: 'ABCD-1234' });
  });

  it('a verifier accepting several kinds learns the kind from typ', async () => {
    const w = createWorld();
    const kinds: TokenKind[] = ['agent', 'person', 'auth'];
    for (const kind of kinds) {
      const v = await w.verifier.verify(w.issue(kind), { kinds });
      expect(v.kind).toBe(kind);
    }
  });

  it('tokenKindOfTyp and decodeJwtUnverified', () => {
    const w = createWorld();
    expect(tokenKindOfTyp('aa-person+jwt')).toBe('person');
    expect(tokenKindOfTyp('aa-auth+jwt')).toBe('auth');
    expect(tokenKindOfTyp('JWT')).toBeUndefined();
    expect(tokenKindOfTyp(7)).toBeUndefined();
    const jwt = w.issue('agent');
    const { header, payload } = decodeJwtUnverified(jwt);
    expect(header.typ).toBe('aa-agent+jwt');
    expect(payload.sub).toBe(AGENT_ID);
  });
});

describe('issueToken: exp and refusals', () => {
  it('exp = min(iat + lifetime, iat + cap, notAfter)', () => {
    const w = createWorld();
    const opts = { clock: w.clock };
    const person = w.baseClaims('person');
    expect(payloadOf(issueToken('person', person, w.signers.ps, { ...opts, lifetimeSeconds: 600 })).exp).toBe(
      NOW + 600,
    );
    expect(
      payloadOf(issueToken('person', person, w.signers.ps, { ...opts, lifetimeSeconds: 7200 })).exp,
    ).toBe(NOW + 3600);
    expect(
      payloadOf(
        issueToken('person', person, w.signers.ps, { ...opts, notAfter: [undefined, NOW + 100, NOW + 200] }),
      ).exp,
    ).toBe(NOW + 100);
    expect(
      payloadOf(issueToken('agent', w.baseClaims('agent'), w.signers.ap, { ...opts, lifetimeSeconds: 1e6 }))
        .exp,
    ).toBe(NOW + 24 * 3600);
    expect(
      payloadOf(
        issueToken('resource', w.baseClaims('resource'), w.signers.rs, { ...opts, lifetimeSeconds: 3600 }),
      ).exp,
    ).toBe(NOW + 300);
  });

  it('completeTokenClaims returns what issueToken signs', () => {
    const w = createWorld();
    const full = completeTokenClaims('person', w.baseClaims('person'), { clock: w.clock });
    const jwt = issueToken('person', full, w.signers.ps, { clock: w.clock });
    expect(payloadOf(jwt)).toEqual(full);
  });

  it('refuses a person token with scope or account — §Person Token Structure', () => {
    const w = createWorld();
    for (const extra of [{ scope: 'data.read' }, { account: 'acct-1' }]) {
      expect(() =>
        issueToken('person', { ...w.baseClaims('person'), ...extra }, w.signers.ps, { clock: w.clock }),
      ).toThrow(TypeError);
    }
  });

  it('refuses a resource token without agent_jkt or presented_jti', () => {
    const w = createWorld();
    for (const name of ['agent_jkt', 'presented_jti'] as const) {
      const claims = w.baseClaims('resource') as unknown as Record<string, unknown>;
      delete claims[name];
      expect(() => issueToken('resource', claims as never, w.signers.rs, { clock: w.clock })).toThrow(
        TypeError,
      );
    }
  });

  it('refuses a cnf.jwk that fails Algorithm Determination', () => {
    const w = createWorld();
    const bad = [
      { ...w.holder.jwk, alg: 'EdDSA' },
      { ...w.holder.jwk, alg: undefined },
      { ...w.holder.jwk, kty: 'EC' },
    ];
    for (const jwk of bad) {
      expect(() =>
        issueToken('agent', { ...w.baseClaims('agent'), cnf: { jwk: jwk as never } }, w.signers.ap, {
          clock: w.clock,
        }),
      ).toThrow(TypeError);
    }
    const noCnf = w.baseClaims('agent') as unknown as Record<string, unknown>;
    delete noCnf.cnf;
    expect(() => issueToken('agent', noCnf as never, w.signers.ap, { clock: w.clock })).toThrow(TypeError);
  });

  it('refuses an exp not after iat, an auth token without dwk, a wrong dwk, and a bad agent sub', () => {
    const w = createWorld();
    const c = { clock: w.clock };
    expect(() => issueToken('person', { ...w.baseClaims('person'), exp: NOW }, w.signers.ps, c)).toThrow(
      TypeError,
    );
    expect(() =>
      issueToken('person', w.baseClaims('person'), w.signers.ps, { ...c, notAfter: [NOW - 1] }),
    ).toThrow(TypeError);
    const noDwk = w.baseClaims('auth') as unknown as Record<string, unknown>;
    delete noDwk.dwk;
    expect(() => issueToken('auth', noDwk as never, w.signers.as, c)).toThrow(/dwk/);
    expect(() => issueToken('agent', { ...w.baseClaims('agent'), dwk: DWK.person }, w.signers.ap, c)).toThrow(
      TypeError,
    );
    expect(() =>
      issueToken('agent', { ...w.baseClaims('agent'), sub: 'My Agent@agent.example' }, w.signers.ap, c),
    ).toThrow(TypeError);
  });
});

describe('interop with jose (independent cross-check)', () => {
  for (const alg of ['Ed25519', 'ES256'] as const) {
    it(`tokens we issue verify with jose jwtVerify (${alg})`, async () => {
      const w = createWorld(alg, alg);
      for (const kind of KINDS) {
        const jwt = w.issue(kind);
        const key = await importJWK(w.signerOf(kind).jwk, alg);
        const { payload, protectedHeader } = await jwtVerify(jwt, key, {
          algorithms: ['Ed25519', 'ES256'],
          typ: TOKEN_TYP[kind],
          currentDate: new Date(w.clock.now()),
        });
        expect(protectedHeader.alg).toBe(alg);
        expect(payload.jti).toBe(payloadOf(jwt).jti);
      }
    });

    it(`tokens jose issues verify with ours (${alg})`, async () => {
      const w = createWorld(alg, alg);
      const jwt = await new SignJWT({
        iss: AS,
        dwk: DWK.access,
        aud: RS,
        ps: PS,
        sub: 'pairwise-123',
        cnf: { jwk: w.holder.jwk },
        scope: 'data.read',
        jti: 'jose-1',
        iat: NOW,
        exp: NOW + 600,
      })
        .setProtectedHeader({ alg, typ: 'aa-auth+jwt', kid: w.signers.as.kid })
        .sign(w.signers.as.privateKey);
      const v = await w.verifier.verify(jwt, { kinds: ['auth'], audience: RS });
      expect(v.claims.jti).toBe('jose-1');
      const agent = await new SignJWT({
        iss: AP,
        dwk: DWK.agent,
        sub: AGENT_ID,
        cnf: { jwk: w.holder.jwk },
        jti: 'jose-2',
        iat: NOW,
        exp: NOW + 600,
      })
        .setProtectedHeader({ alg, typ: 'aa-agent+jwt', kid: w.signers.ap.kid })
        .sign(w.signers.ap.privateKey);
      expect((await w.verifier.verify(agent, { kinds: ['agent'] })).claims.sub).toBe(AGENT_ID);
    });
  }
});
