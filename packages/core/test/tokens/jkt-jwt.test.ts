import { describe, expect, it } from 'vitest';
import { generateKeyPair, jwkThumbprint, type SigningAlg } from '../../src/jwk.js';
import { issueJktJwt, jktUri, verifyJktJwt } from '../../src/tokens/jkt-jwt.js';
import {
  type TokenFailureReason,
  TokenVerificationError,
  tokenFailureToSignatureError,
} from '../../src/tokens/token-error.js';
import { createFakeClock, forgeJwt, headerOf, NOW, payloadOf } from './helpers.js';

function expectReason(fn: () => unknown, reason: TokenFailureReason, sig: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(TokenVerificationError);
  expect((caught as TokenVerificationError).reason).toBe(reason);
  expect(tokenFailureToSignatureError(caught as TokenVerificationError).error).toBe(sig);
}

function setup(durableAlg: SigningAlg = 'ES256', ephemeralAlg: SigningAlg = 'Ed25519') {
  const clock = createFakeClock();
  const durable = generateKeyPair(durableAlg, 'enclave');
  const ephemeral = generateKeyPair(ephemeralAlg, 'ephemeral');
  const { kid: _k, use: _u, ...headerJwk } = durable.jwk;
  const claims = () => ({
    iss: jktUri(durable.jwk),
    iat: NOW,
    exp: NOW + 3600,
    jti: 'd-1',
    cnf: { jwk: ephemeral.jwk },
  });
  const forge = (header: Record<string, unknown>, payload: Record<string, unknown>, signer = durable) =>
    forgeJwt({ typ: 'jkt-s256+jwt', alg: durable.alg, jwk: headerJwk, ...header }, payload, signer);
  return { clock, durable, ephemeral, headerJwk, claims, forge };
}

describe('jkt-jwt (Signature-Key §3.5)', () => {
  for (const [d, e] of [
    ['ES256', 'Ed25519'],
    ['Ed25519', 'Ed25519'],
    ['Ed25519', 'ES256'],
  ] as [SigningAlg, SigningAlg][]) {
    it(`issues and verifies (durable ${d}, ephemeral ${e})`, () => {
      const { clock, durable, ephemeral } = setup(d, e);
      const jwt = issueJktJwt(durable, ephemeral.jwk, { clock, lifetimeSeconds: 600 });
      const header = headerOf(jwt);
      expect(header.typ).toBe('jkt-s256+jwt');
      expect(header.alg).toBe(d);
      expect(header.kid).toBeUndefined();
      expect(payloadOf(jwt).iss).toBe(`urn:jkt:sha-256:${jwkThumbprint(durable.jwk)}`);
      const v = verifyJktJwt(jwt, { clock });
      expect(v.durableKey.thumbprint).toBe(durable.thumbprint);
      expect(v.ephemeralKey.thumbprint).toBe(ephemeral.thumbprint);
      expect(v.ephemeralKey.alg).toBe(e);
      expect(v.claims.exp).toBe(NOW + 600);
      expect(typeof v.claims.jti).toBe('string');
    });
  }

  it('supports the sha-512 variant (jkt-s512+jwt, urn:jkt:sha-512:)', () => {
    const { clock, durable, ephemeral } = setup();
    const jwt = issueJktJwt(durable, ephemeral.jwk, { clock, lifetimeSeconds: 600, hash: 'sha-512' });
    expect(headerOf(jwt).typ).toBe('jkt-s512+jwt');
    expect(payloadOf(jwt).iss).toBe(`urn:jkt:sha-512:${jwkThumbprint(durable.jwk, 'sha512')}`);
    expect(verifyJktJwt(jwt, { clock }).durableKey.thumbprint).toBe(durable.thumbprint);
  });

  it('§3.5 "The typ and iss prefix MUST be consistent": s512 typ with a sha-256 iss → issuer', () => {
    const { clock, forge, claims } = setup();
    expectReason(
      () => verifyJktJwt(forge({ typ: 'jkt-s512+jwt' }, claims()), { clock }),
      'issuer',
      'invalid_jwt',
    );
    const { durable } = setup();
    const s512iss = { ...claims(), iss: `urn:jkt:sha-512:${jwkThumbprint(durable.jwk, 'sha512')}` };
    expectReason(() => verifyJktJwt(forge({}, s512iss), { clock }), 'issuer', 'invalid_jwt');
  });

  it('iss naming another key → issuer', () => {
    const { clock, forge, claims } = setup();
    const other = generateKeyPair('ES256');
    expectReason(
      () => verifyJktJwt(forge({}, { ...claims(), iss: jktUri(other.jwk) }), { clock }),
      'issuer',
      'invalid_jwt',
    );
  });

  it('a header jwk swapped for another key → issuer (thumbprint recomputed) or signature', () => {
    const { clock, claims, durable } = setup();
    const attacker = generateKeyPair('ES256');
    const { kid: _k, ...attackerJwk } = attacker.jwk;
    // The attacker signs with its own key but keeps the victim's iss.
    const jwt = forgeJwt({ typ: 'jkt-s256+jwt', alg: 'ES256', jwk: attackerJwk }, claims(), attacker);
    expectReason(() => verifyJktJwt(jwt, { clock }), 'issuer', 'invalid_jwt');
    // Right header key and iss, wrong signer.
    const { kid: _k2, ...victimJwk } = durable.jwk;
    const forged = forgeJwt({ typ: 'jkt-s256+jwt', alg: 'ES256', jwk: victimJwk }, claims(), attacker);
    expectReason(() => verifyJktJwt(forged, { clock }), 'signature', 'invalid_jwt');
  });

  it('wrong typ → typ', () => {
    const { clock, forge, claims } = setup();
    for (const typ of ['JWT', 'aa-agent+jwt', 'jkt-s384+jwt', 'JKT-S256+JWT']) {
      expectReason(() => verifyJktJwt(forge({ typ }, claims()), { clock }), 'typ', 'invalid_jwt');
    }
  });

  it('expired, exp missing, iat missing, iat in the future, lifetime over policy', () => {
    const { clock, forge, claims } = setup();
    const jwt = forge({}, claims());
    clock.advance(3600);
    expectReason(() => verifyJktJwt(jwt, { clock }), 'expired', 'expired_jwt');
    const fresh = setup();
    const { exp: _e, ...noExp } = fresh.claims();
    expectReason(
      () => verifyJktJwt(fresh.forge({}, noExp), { clock: fresh.clock }),
      'malformed',
      'invalid_jwt',
    );
    const { iat: _i, ...noIat } = fresh.claims();
    expectReason(
      () => verifyJktJwt(fresh.forge({}, noIat), { clock: fresh.clock }),
      'malformed',
      'invalid_jwt',
    );
    const future = { ...fresh.claims(), iat: NOW + 300, exp: NOW + 900 };
    expectReason(
      () => verifyJktJwt(fresh.forge({}, future), { clock: fresh.clock }),
      'not_yet_valid',
      'invalid_jwt',
    );
    const long = { ...fresh.claims(), exp: NOW + 7200 };
    expectReason(
      () => verifyJktJwt(fresh.forge({}, long), { clock: fresh.clock, maxLifetimeSeconds: 3600 }),
      'lifetime',
      'invalid_jwt',
    );
  });

  it('cnf missing or unusable → malformed / key / unsupported_key', () => {
    const { clock, forge, claims, ephemeral } = setup();
    const { cnf: _c, ...noCnf } = claims();
    expectReason(() => verifyJktJwt(forge({}, noCnf), { clock }), 'malformed', 'invalid_jwt');
    const eddsa = { ...claims(), cnf: { jwk: { ...ephemeral.jwk, alg: 'EdDSA' } } };
    expectReason(() => verifyJktJwt(forge({}, eddsa), { clock }), 'unsupported_key', 'unsupported_algorithm');
    const mismatch = { ...claims(), cnf: { jwk: { ...ephemeral.jwk, crv: 'P-256' } } };
    expectReason(() => verifyJktJwt(forge({}, mismatch), { clock }), 'key', 'invalid_key');
  });

  it('header jwk missing, without alg, or disagreeing with the header alg', () => {
    const { clock, forge, claims, headerJwk } = setup();
    expectReason(
      () => verifyJktJwt(forge({ jwk: undefined }, claims()), { clock }),
      'malformed',
      'invalid_jwt',
    );
    const { alg: _a, ...noAlg } = headerJwk;
    expectReason(
      () => verifyJktJwt(forge({ jwk: noAlg }, claims()), { clock }),
      'unsupported_key',
      'unsupported_algorithm',
    );
    expectReason(
      () => verifyJktJwt(forge({ jwk: { ...headerJwk, crv: 'P-384' } }, claims()), { clock }),
      'key',
      'invalid_key',
    );
    expectReason(() => verifyJktJwt(forge({ alg: 'Ed25519' }, claims()), { clock }), 'alg', 'invalid_jwt');
    expectReason(() => verifyJktJwt(forge({ alg: 'EdDSA' }, claims()), { clock }), 'alg', 'invalid_jwt');
  });

  it('issueJktJwt refuses unusable keys', () => {
    const { clock, durable, ephemeral } = setup();
    expect(() =>
      issueJktJwt(durable, { ...ephemeral.jwk, alg: 'EdDSA' } as never, { clock, lifetimeSeconds: 60 }),
    ).toThrow(TypeError);
    expect(() => issueJktJwt(durable, ephemeral.jwk, { clock, lifetimeSeconds: 0 })).toThrow(TypeError);
  });
});
