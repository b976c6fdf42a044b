import { describe, expect, it } from 'vitest';
import { ExpiredJwt, InvalidJwt, InvalidSignature, UnknownKey } from '../../src/errors.js';
import type { VerifierDeps } from '../../src/httpsig/types.js';
import { verifyRequestSignature } from '../../src/httpsig/verify.js';
import { STRICT } from '../../src/identifiers.js';
import { generateKeyPair } from '../../src/jwk.js';
import { DWK } from '../../src/tokens/claims.js';
import { issueToken } from '../../src/tokens/issue.js';
import { issueJktJwt } from '../../src/tokens/jkt-jwt.js';
import { createTokenVerifier } from '../../src/tokens/verify.js';
import {
  createFakeClock,
  createFakeKeyResolver,
  expectSignatureError,
  publicHalf,
  signed,
} from './helpers.js';

/** The profile with the real token verifier and jkt-jwt verifier (discovery faked). */
function world() {
  const clock = createFakeClock();
  const keys = createFakeKeyResolver();
  const ap = generateKeyPair('Ed25519', 'ap-1');
  keys.publish('https://agent.example', DWK.agent, 'ap-1', publicHalf(ap));
  const holder = generateKeyPair('Ed25519', 'holder-1');
  const tokens = createTokenVerifier({ clock, keys, identifierPolicy: STRICT });
  const deps: VerifierDeps = { clock, keys, tokens, identifierPolicy: STRICT };
  const agentToken = (overrides: Record<string, unknown> = {}, lifetimeSeconds = 3600) =>
    issueToken(
      'agent',
      {
        iss: 'https://agent.example',
        sub: 'aauth:assistant@agent.example',
        cnf: { jwk: holder.jwk },
        ...overrides,
      },
      ap,
      { clock, lifetimeSeconds },
    );
  return { clock, keys, ap, holder, deps, agentToken };
}

describe('jwt scheme with the real token verifier', () => {
  it('verifies; a warm request re-uses the verified token (no second discovery)', async () => {
    const w = world();
    const jwt = w.agentToken();
    const request = () => signed({}, { key: w.holder, signatureKey: { scheme: 'jwt', jwt }, clock: w.clock });
    const first = await verifyRequestSignature(request(), {}, w.deps);
    expect(first?.signer.scheme).toBe('jwt');
    if (first?.signer.scheme === 'jwt')
      expect(first.signer.token.claims.sub).toBe('aauth:assistant@agent.example');
    await verifyRequestSignature(request(), {}, w.deps);
    expect(w.keys.calls).toHaveLength(1);
  });

  it('an expired agent token is expired_jwt', async () => {
    const w = world();
    const jwt = w.agentToken({}, 60);
    w.clock.advance(120);
    const request = signed({}, { key: w.holder, signatureKey: { scheme: 'jwt', jwt }, clock: w.clock });
    await expectSignatureError(verifyRequestSignature(request, {}, w.deps), {
      class: ExpiredJwt,
      code: 'expired_jwt',
    });
  });

  it('a token signed by an unknown AP key is unknown_key', async () => {
    const w = world();
    const rogue = generateKeyPair('Ed25519', 'rogue');
    const jwt = issueToken(
      'agent',
      { iss: 'https://agent.example', sub: 'aauth:a@agent.example', cnf: { jwk: w.holder.jwk } },
      rogue,
      { clock: w.clock },
    );
    const request = signed({}, { key: w.holder, signatureKey: { scheme: 'jwt', jwt }, clock: w.clock });
    await expectSignatureError(verifyRequestSignature(request, {}, w.deps), {
      class: UnknownKey,
      code: 'unknown_key',
    });
  });

  it('a token of a kind the route does not take is invalid_jwt', async () => {
    const w = world();
    const request = signed(
      {},
      { key: w.holder, signatureKey: { scheme: 'jwt', jwt: w.agentToken() }, clock: w.clock },
    );
    await expectSignatureError(verifyRequestSignature(request, { tokenKinds: ['auth'] }, w.deps), {
      class: InvalidJwt,
      code: 'invalid_jwt',
    });
  });

  it('a valid token whose cnf is not the signing key is invalid_signature', async () => {
    const w = world();
    const thief = generateKeyPair('Ed25519');
    const request = signed(
      {},
      { key: thief, signatureKey: { scheme: 'jwt', jwt: w.agentToken() }, clock: w.clock },
    );
    await expectSignatureError(verifyRequestSignature(request, {}, w.deps), {
      class: InvalidSignature,
      code: 'invalid_signature',
    });
  });
});

describe('jkt-jwt scheme — the AP refresh ceremony (bootstrap §Two-Key Refresh)', () => {
  const policy = { schemes: ['jkt-jwt'] as const, requireBodyComponents: true };

  it('verifies a refresh signed by the new key under a JWT from the durable key', async () => {
    const w = world();
    const durable = generateKeyPair('ES256', 'durable');
    const next = generateKeyPair('Ed25519', 'next');
    const jwt = issueJktJwt(durable, next.jwk, { clock: w.clock, lifetimeSeconds: 300 });
    const request = signed(
      {
        method: 'POST',
        url: 'https://agent.example/refresh',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      },
      { key: next, signatureKey: { scheme: 'jkt-jwt', jwt }, clock: w.clock },
    );
    const result = await verifyRequestSignature(request, policy, w.deps);
    expect(result?.signer.scheme).toBe('jkt-jwt');
    if (result?.signer.scheme !== 'jkt-jwt') return;
    expect(result.signer.durableThumbprint).toBe(durable.thumbprint);
    expect(result.signer.newKey.thumbprint).toBe(next.thumbprint);
    expect(result.signer.claims.iss).toBe(`urn:jkt:sha-256:${durable.thumbprint}`);
  });

  it('a refresh signed by the durable key instead of the delegated key is invalid_signature', async () => {
    const w = world();
    const durable = generateKeyPair('Ed25519', 'durable');
    const next = generateKeyPair('Ed25519', 'next');
    const jwt = issueJktJwt(durable, next.jwk, { clock: w.clock, lifetimeSeconds: 300 });
    const request = signed({}, { key: durable, signatureKey: { scheme: 'jkt-jwt', jwt }, clock: w.clock });
    await expectSignatureError(verifyRequestSignature(request, { schemes: ['jkt-jwt'] }, w.deps), {
      class: InvalidSignature,
      code: 'invalid_signature',
    });
  });

  it('an expired delegation is expired_jwt; a tampered one is invalid_jwt', async () => {
    const w = world();
    const durable = generateKeyPair('Ed25519', 'durable');
    const next = generateKeyPair('Ed25519', 'next');
    const jwt = issueJktJwt(durable, next.jwk, { clock: w.clock, lifetimeSeconds: 60 });
    w.clock.advance(600);
    const expired = signed({}, { key: next, signatureKey: { scheme: 'jkt-jwt', jwt }, clock: w.clock });
    await expectSignatureError(verifyRequestSignature(expired, { schemes: ['jkt-jwt'] }, w.deps), {
      class: ExpiredJwt,
      code: 'expired_jwt',
    });
    const fresh = issueJktJwt(durable, next.jwk, { clock: w.clock, lifetimeSeconds: 60 });
    const [h, p, s] = fresh.split('.');
    const tampered = `${h}.${p}.${s!.startsWith('A') ? `B${s!.slice(1)}` : `A${s!.slice(1)}`}`;
    const request = signed(
      {},
      { key: next, signatureKey: { scheme: 'jkt-jwt', jwt: tampered }, clock: w.clock },
    );
    await expectSignatureError(verifyRequestSignature(request, { schemes: ['jkt-jwt'] }, w.deps), {
      class: InvalidJwt,
      code: 'invalid_jwt',
    });
  });
});
