import { describe, expect, it } from 'vitest';
import { DiscoveryError } from '../../src/discovery/types.js';
import { DEV } from '../../src/identifiers.js';
import { generateKeyPair } from '../../src/jwk.js';
import { DWK, type TokenKind } from '../../src/tokens/claims.js';
import {
  type BodyTokenKind,
  type TokenFailureReason,
  TokenVerificationError,
  tokenFailureToBodyError,
  tokenFailureToSignatureError,
} from '../../src/tokens/token-error.js';
import { AP, AS, createWorld, forgeJwt, headerOf, NOW, PS, payloadOf, RS, withPayload } from './helpers.js';

interface Expected {
  reason: TokenFailureReason;
  /** `Signature-Error` code when the token came in `Signature-Key`. */
  sig: string;
  /** Body code for the given body token kind. */
  body?: [BodyTokenKind, string];
}

async function expectFailure(promise: Promise<unknown>, expected: Expected): Promise<TokenVerificationError> {
  const err = await promise.then(
    () => {
      throw new Error('verification unexpectedly succeeded');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TokenVerificationError);
  const tve = err as TokenVerificationError;
  expect(tve.reason).toBe(expected.reason);
  const sig = tokenFailureToSignatureError(tve);
  expect(sig.status).toBe(401);
  expect(sig.error).toBe(expected.sig);
  expect(sig.toProblem().type).toBe(`urn:ietf:params:sig-error:${expected.sig}`);
  if (expected.body) {
    const body = tokenFailureToBodyError(tve, expected.body[0]);
    expect(body.status).toBe(400);
    expect(body.error).toBe(expected.body[1]);
  }
  return tve;
}

function header(kind: TokenKind, kid: string, alg = 'Ed25519') {
  return { alg, typ: `aa-${kind}+jwt`, kid };
}

function fullClaims(
  w: ReturnType<typeof createWorld>,
  kind: TokenKind,
  overrides: Record<string, unknown> = {},
) {
  return { ...payloadOf(w.issue(kind)), ...overrides };
}

describe('createTokenVerifier: cheap rejections never reach discovery', () => {
  it('wrong typ → typ / invalid_jwt / invalid_agent_token', async () => {
    const w = createWorld();
    await expectFailure(w.verifier.verify(w.issue('resource'), { kinds: ['agent'] }), {
      reason: 'typ',
      sig: 'invalid_jwt',
      body: ['agent', 'invalid_agent_token'],
    });
    const generic = forgeJwt(
      { ...header('agent', 'ap-1'), typ: 'JWT' },
      fullClaims(w, 'agent'),
      w.signers.ap,
    );
    await expectFailure(w.verifier.verify(generic, { kinds: ['agent'] }), {
      reason: 'typ',
      sig: 'invalid_jwt',
    });
    expect(w.resolver.calls).toHaveLength(0);
  });

  it('§Person Token Verification: an aa-person+jwt is rejected wherever an auth token is required', async () => {
    const w = createWorld();
    // Same issuer, same claims an auth token from a PS would carry — only typ differs.
    const person = w.issue('person');
    await expectFailure(w.verifier.verify(person, { kinds: ['auth'], audience: RS }), {
      reason: 'typ',
      sig: 'invalid_jwt',
    });
    expect(w.resolver.calls).toHaveLength(0);
  });

  it('wrong dwk → dwk / invalid_jwt', async () => {
    const w = createWorld();
    const jwt = forgeJwt(header('agent', 'ap-1'), fullClaims(w, 'agent', { dwk: DWK.person }), w.signers.ap);
    await expectFailure(w.verifier.verify(jwt, { kinds: ['agent'] }), {
      reason: 'dwk',
      sig: 'invalid_jwt',
      body: ['agent', 'invalid_agent_token'],
    });
    const auth = forgeJwt(header('auth', 'as-1'), fullClaims(w, 'auth', { dwk: DWK.resource }), w.signers.as);
    await expectFailure(w.verifier.verify(auth, { kinds: ['auth'] }), { reason: 'dwk', sig: 'invalid_jwt' });
    expect(w.resolver.calls).toHaveLength(0);
  });

  it('expired → expired / expired_jwt / expired_agent_token, resolver never called', async () => {
    const w = createWorld();
    const jwt = w.issue('agent', {}, 600);
    w.clock.advance(600);
    await expectFailure(w.verifier.verify(jwt, { kinds: ['agent'] }), {
      reason: 'expired',
      sig: 'expired_jwt',
      body: ['agent', 'expired_agent_token'],
    });
    const rt = w.issue('resource', {}, 60);
    w.clock.advance(61);
    await expectFailure(w.verifier.verify(rt, { kinds: ['resource'] }), {
      reason: 'expired',
      sig: 'expired_jwt',
      body: ['resource', 'expired_resource_token'],
    });
    expect(w.resolver.calls).toHaveLength(0);
  });

  it('iat in the future beyond skew → not_yet_valid, resolver never called', async () => {
    const w = createWorld();
    const jwt = forgeJwt(
      header('person', 'ps-1'),
      fullClaims(w, 'person', { iat: NOW + 120, exp: NOW + 1200 }),
      w.signers.ps,
    );
    await expectFailure(w.verifier.verify(jwt, { kinds: ['person'] }), {
      reason: 'not_yet_valid',
      sig: 'invalid_jwt',
      body: ['person', 'invalid_person_token'],
    });
    expect(w.resolver.calls).toHaveLength(0);
    // Within the 60 s skew it is accepted.
    const ok = forgeJwt(
      header('person', 'ps-1'),
      fullClaims(w, 'person', { iat: NOW + 30, exp: NOW + 1200 }),
      w.signers.ps,
    );
    await expect(w.verifier.verify(ok, { kinds: ['person'] })).resolves.toBeDefined();
  });

  it('http:// issuer in strict mode → issuer, resolver never called (§Server Identifiers)', async () => {
    const w = createWorld();
    const jwt = forgeJwt(
      header('agent', 'ap-1'),
      fullClaims(w, 'agent', { iss: 'http://agent.example' }),
      w.signers.ap,
    );
    await expectFailure(w.verifier.verify(jwt, { kinds: ['agent'] }), {
      reason: 'issuer',
      sig: 'invalid_jwt',
      body: ['agent', 'invalid_agent_token'],
    });
    for (const iss of ['https://agent.example/', 'https://Agent.example', 'https://agent.example:8443']) {
      const bad = forgeJwt(header('agent', 'ap-1'), fullClaims(w, 'agent', { iss }), w.signers.ap);
      await expectFailure(w.verifier.verify(bad, { kinds: ['agent'] }), {
        reason: 'issuer',
        sig: 'invalid_jwt',
      });
    }
    expect(w.resolver.calls).toHaveLength(0);
  });

  it('dev mode admits an http://localhost:PORT issuer', async () => {
    const w = createWorld();
    const devIss = 'http://localhost:3001';
    w.resolver.publish(devIss, DWK.agent, [w.signers.ap]);
    const jwt = forgeJwt(header('agent', 'ap-1'), fullClaims(w, 'agent', { iss: devIss }), w.signers.ap);
    const dev = w.newVerifier({ identifierPolicy: DEV });
    await expect(dev.verify(jwt, { kinds: ['agent'] })).resolves.toMatchObject({ kind: 'agent' });
  });

  it('§Signature Algorithms: EdDSA, none, HS256 and unimplemented header algs → alg', async () => {
    const w = createWorld();
    const claims = fullClaims(w, 'agent');
    for (const alg of ['EdDSA', 'HS256', 'ES384', 'RS256']) {
      const jwt = forgeJwt({ ...header('agent', 'ap-1'), alg }, claims, w.signers.ap);
      await expectFailure(w.verifier.verify(jwt, { kinds: ['agent'] }), {
        reason: 'alg',
        sig: 'invalid_jwt',
      });
    }
    const [h, p] = forgeJwt({ ...header('agent', 'ap-1'), alg: 'none' }, claims, w.signers.ap).split('.');
    await expectFailure(w.verifier.verify(`${h}.${p}.`, { kinds: ['agent'] }), {
      reason: 'malformed',
      sig: 'invalid_jwt',
    });
    const noneSigned = forgeJwt({ ...header('agent', 'ap-1'), alg: 'none' }, claims, w.signers.ap);
    await expectFailure(w.verifier.verify(noneSigned, { kinds: ['agent'] }), {
      reason: 'alg',
      sig: 'invalid_jwt',
    });
    expect(w.resolver.calls).toHaveLength(0);
  });

  it('missing kid, crit header, malformed compact form → malformed', async () => {
    const w = createWorld();
    const claims = fullClaims(w, 'agent');
    const noKid = forgeJwt({ alg: 'Ed25519', typ: 'aa-agent+jwt' }, claims, w.signers.ap);
    await expectFailure(w.verifier.verify(noKid, { kinds: ['agent'] }), {
      reason: 'malformed',
      sig: 'invalid_jwt',
    });
    const crit = forgeJwt({ ...header('agent', 'ap-1'), crit: ['b64'], b64: false }, claims, w.signers.ap);
    await expectFailure(w.verifier.verify(crit, { kinds: ['agent'] }), {
      reason: 'malformed',
      sig: 'invalid_jwt',
    });
    for (const junk of [
      '',
      'a.b',
      'a.b.c.d',
      '!!.e30.AA',
      'e30.e30.AA',
      `${'a'.repeat(17000)}.e30.AA`,
      'W10.e30.AA',
    ]) {
      await expectFailure(w.verifier.verify(junk, { kinds: ['agent'] }), {
        reason: 'malformed',
        sig: 'invalid_jwt',
      });
    }
    expect(w.resolver.calls).toHaveLength(0);
  });

  it('missing or mistyped required claims → malformed / invalid_resource_token', async () => {
    const w = createWorld();
    const base = fullClaims(w, 'resource');
    for (const mutate of [
      { presented_jti: undefined },
      { aud: [PS] },
      { agent_jkt: undefined },
      { agent_jkt: 'not-a-thumbprint' },
      { sub: 42 },
      { exp: '2026' },
      { jti: undefined },
      { scope: ['a', 'b'] },
      { interaction: { url: 'http://resource.example/i', code: 'X' } },
      { interaction: { url: `${RS}/i` } },
    ]) {
      const jwt = forgeJwt(header('resource', 'rs-1'), { ...base, ...mutate }, w.signers.rs);
      await expectFailure(w.verifier.verify(jwt, { kinds: ['resource'] }), {
        reason: 'malformed',
        sig: 'invalid_jwt',
        body: ['resource', 'invalid_resource_token'],
      });
    }
    expect(w.resolver.calls).toHaveLength(0);
  });

  it('§Person Token Structure: a person token carrying scope or account is rejected', async () => {
    const w = createWorld();
    for (const extra of [{ scope: 'data.read' }, { account: 'acct-1' }]) {
      const jwt = forgeJwt(header('person', 'ps-1'), fullClaims(w, 'person', extra), w.signers.ps);
      await expectFailure(w.verifier.verify(jwt, { kinds: ['person'] }), {
        reason: 'malformed',
        sig: 'invalid_jwt',
        body: ['person', 'invalid_person_token'],
      });
    }
  });

  it('§Agent Token Verification / §Sub-Agent Identity: invalid sub, ps or parent_agent → malformed', async () => {
    const w = createWorld();
    for (const extra of [
      { sub: 'My Agent@agent.example' },
      { sub: 'aauth:@agent.example' },
      { sub: 'aauth:agent@http://agent.example' },
      { parent_agent: 'planner@agent.example' },
      { parent_agent: 'aauth:Planner@agent.example' },
      { ps: 'http://ps.example' },
      { ps: 'https://ps.example/' },
    ]) {
      const jwt = forgeJwt(header('agent', 'ap-1'), fullClaims(w, 'agent', extra), w.signers.ap);
      await expectFailure(w.verifier.verify(jwt, { kinds: ['agent'] }), {
        reason: 'malformed',
        sig: 'invalid_jwt',
        body: ['agent', 'invalid_agent_token'],
      });
    }
    expect(w.resolver.calls).toHaveLength(0);
  });

  it('§Person Token Structure: a person token lifetime of 2 h → lifetime', async () => {
    const w = createWorld();
    const jwt = forgeJwt(
      header('person', 'ps-1'),
      fullClaims(w, 'person', { exp: NOW + 7200 }),
      w.signers.ps,
    );
    await expectFailure(w.verifier.verify(jwt, { kinds: ['person'] }), {
      reason: 'lifetime',
      sig: 'invalid_jwt',
      body: ['person', 'invalid_person_token'],
    });
    expect(w.resolver.calls).toHaveLength(0);
  });

  it('§Auth Token Structure: an auth token lifetime over 1 h → lifetime', async () => {
    const w = createWorld();
    const jwt = forgeJwt(header('auth', 'as-1'), fullClaims(w, 'auth', { exp: NOW + 3601 }), w.signers.as);
    await expectFailure(w.verifier.verify(jwt, { kinds: ['auth'] }), {
      reason: 'lifetime',
      sig: 'invalid_jwt',
    });
    expect(w.resolver.calls).toHaveLength(0);
  });

  it('agent tokens over 24 h and resource tokens over 5 min are accepted (SHOULDs)', async () => {
    const w = createWorld();
    const agent = forgeJwt(
      header('agent', 'ap-1'),
      fullClaims(w, 'agent', { exp: NOW + 48 * 3600 }),
      w.signers.ap,
    );
    await expect(w.verifier.verify(agent, { kinds: ['agent'] })).resolves.toBeDefined();
    const rt = forgeJwt(
      header('resource', 'rs-1'),
      fullClaims(w, 'resource', { exp: NOW + 900 }),
      w.signers.rs,
    );
    await expect(w.verifier.verify(rt, { kinds: ['resource'] })).resolves.toBeDefined();
  });
});

describe('createTokenVerifier: discovery and signature', () => {
  it('unknown kid → unknown_key / unknown_key', async () => {
    const w = createWorld();
    const other = generateKeyPair('Ed25519', 'ap-unknown');
    const jwt = forgeJwt(header('agent', 'ap-unknown'), fullClaims(w, 'agent'), other);
    await expectFailure(w.verifier.verify(jwt, { kinds: ['agent'] }), {
      reason: 'unknown_key',
      sig: 'unknown_key',
      body: ['agent', 'invalid_agent_token'],
    });
  });

  it('issuer metadata mismatch → issuer_mismatch / Signature-Error issuer_mismatch', async () => {
    const w = createWorld();
    w.resolver.failWith(new DiscoveryError('issuer_mismatch', 'metadata issuer is https://evil.example'));
    await expectFailure(w.verifier.verify(w.issue('agent'), { kinds: ['agent'] }), {
      reason: 'issuer_mismatch',
      sig: 'issuer_mismatch',
    });
    w.resolver.failWith(new DiscoveryError('issuer_missing', 'no issuer'));
    await expectFailure(w.verifier.verify(w.issue('agent'), { kinds: ['agent'] }), {
      reason: 'issuer_missing',
      sig: 'issuer_missing',
    });
  });

  it('discovery failures map one-to-one or to discovery', async () => {
    const w = createWorld();
    const cases: [DiscoveryError['reason'], TokenFailureReason, string][] = [
      ['key', 'key', 'invalid_key'],
      ['unsupported_key', 'unsupported_key', 'unsupported_algorithm'],
      ['metadata', 'discovery', 'invalid_jwt'],
      ['egress', 'discovery', 'invalid_jwt'],
      ['network', 'discovery', 'invalid_jwt'],
    ];
    for (const [from, reason, sig] of cases) {
      w.resolver.failWith(new DiscoveryError(from, 'x'));
      const err = await expectFailure(w.verifier.verify(w.issue('agent'), { kinds: ['agent'] }), {
        reason,
        sig,
      });
      expect(err.cause).toBeInstanceOf(DiscoveryError);
    }
  });

  it('a programming error in the resolver propagates unchanged', async () => {
    const w = createWorld();
    const boom = new RangeError('bug');
    w.resolver.resolveKey = async () => {
      throw boom;
    };
    await expect(w.verifier.verify(w.issue('agent'), { kinds: ['agent'] })).rejects.toBe(boom);
  });

  it('bad signature → signature / invalid_jwt after exactly one refresh attempt', async () => {
    const w = createWorld();
    const impostor = generateKeyPair('Ed25519', 'ap-1');
    const jwt = forgeJwt(header('agent', 'ap-1'), fullClaims(w, 'agent'), impostor);
    await expectFailure(w.verifier.verify(jwt, { kinds: ['agent'] }), {
      reason: 'signature',
      sig: 'invalid_jwt',
      body: ['agent', 'invalid_agent_token'],
    });
    expect(w.resolver.calls.map((c) => c.refresh)).toEqual([false, true]);
  });

  it('a key rotated under the same kid verifies after the refresh', async () => {
    const w = createWorld();
    const rotated = generateKeyPair('Ed25519', 'ap-1');
    w.resolver.publishOnRefresh(AP, DWK.agent, [rotated]);
    const jwt = forgeJwt(header('agent', 'ap-1'), fullClaims(w, 'agent'), rotated);
    await expect(w.verifier.verify(jwt, { kinds: ['agent'] })).resolves.toMatchObject({ kind: 'agent' });
    expect(w.resolver.calls.map((c) => c.refresh)).toEqual([false, true]);
  });

  it('the refreshed key set no longer has the kid → unknown_key', async () => {
    const w = createWorld();
    w.resolver.publishOnRefresh(AP, DWK.agent, [generateKeyPair('Ed25519', 'ap-2')]);
    const jwt = forgeJwt(header('agent', 'ap-1'), fullClaims(w, 'agent'), generateKeyPair('Ed25519'));
    await expectFailure(w.verifier.verify(jwt, { kinds: ['agent'] }), {
      reason: 'unknown_key',
      sig: 'unknown_key',
    });
  });

  it('tampered payload → signature', async () => {
    const w = createWorld();
    const jwt = w.issue('auth');
    const tampered = withPayload(jwt, { ...payloadOf(jwt), scope: 'data.read data.delete' });
    await expectFailure(w.verifier.verify(tampered, { kinds: ['auth'] }), {
      reason: 'signature',
      sig: 'invalid_jwt',
    });
  });

  it('header alg disagreeing with the issuer key alg → alg', async () => {
    const w = createWorld('Ed25519');
    const es = generateKeyPair('ES256', 'as-1');
    const jwt = forgeJwt(header('auth', 'as-1', 'ES256'), fullClaims(w, 'auth'), es);
    await expectFailure(w.verifier.verify(jwt, { kinds: ['auth'] }), { reason: 'alg', sig: 'invalid_jwt' });
  });

  it('wrong aud → audience (§Person Token Verification step 5, §Auth Token Verification step 5)', async () => {
    const w = createWorld();
    await expectFailure(
      w.verifier.verify(w.issue('auth'), { kinds: ['auth'], audience: 'https://other.example' }),
      {
        reason: 'audience',
        sig: 'invalid_jwt',
      },
    );
    await expectFailure(
      w.verifier.verify(w.issue('person'), { kinds: ['person'], audience: 'https://other.example' }),
      {
        reason: 'audience',
        sig: 'invalid_jwt',
        body: ['person', 'invalid_person_token'],
      },
    );
    await expectFailure(w.verifier.verify(w.issue('resource'), { kinds: ['resource'], audience: AS }), {
      reason: 'audience',
      sig: 'invalid_jwt',
      body: ['resource', 'invalid_resource_token'],
    });
  });
});

describe('createTokenVerifier: cnf.jwk (§Request-Context Binding step 6)', () => {
  const cases: [string, (jwk: Record<string, unknown>) => unknown, TokenFailureReason, string][] = [
    ['cnf missing', () => undefined, 'malformed', 'invalid_jwt'],
    ['cnf without jwk', () => ({}), 'malformed', 'invalid_jwt'],
    ['jwk without kty', ({ kty: _k, ...rest }) => ({ jwk: rest }), 'malformed', 'invalid_jwt'],
    ['OKP jwk without x', ({ x: _x, ...rest }) => ({ jwk: rest }), 'malformed', 'invalid_jwt'],
    [
      'EC jwk without y',
      (jwk) => ({ jwk: { ...jwk, kty: 'EC', crv: 'P-256', alg: 'ES256' } }),
      'malformed',
      'invalid_jwt',
    ],
    [
      'cnf with EdDSA',
      (jwk) => ({ jwk: { ...jwk, alg: 'EdDSA' } }),
      'unsupported_key',
      'unsupported_algorithm',
    ],
    [
      'cnf without alg',
      ({ alg: _a, ...rest }) => ({ jwk: rest }),
      'unsupported_key',
      'unsupported_algorithm',
    ],
    [
      'cnf oct key',
      () => ({ jwk: { kty: 'oct', k: 'AAAA', alg: 'HS256' } }),
      'unsupported_key',
      'unsupported_algorithm',
    ],
    [
      'cnf RSA key',
      () => ({ jwk: { kty: 'RSA', n: 'AQAB', e: 'AQAB', alg: 'RS256' } }),
      'unsupported_key',
      'unsupported_algorithm',
    ],
    ['cnf kty/alg mismatch', (jwk) => ({ jwk: { ...jwk, alg: 'ES256' } }), 'key', 'invalid_key'],
    ['cnf crv mismatch', (jwk) => ({ jwk: { ...jwk, crv: 'Ed448' } }), 'key', 'invalid_key'],
    ['cnf x of the wrong length', (jwk) => ({ jwk: { ...jwk, x: 'AAAA' } }), 'key', 'invalid_key'],
  ];
  for (const [name, mutate, reason, sig] of cases) {
    it(`${name} → ${reason} / ${sig}`, async () => {
      const w = createWorld();
      for (const kind of ['agent', 'person', 'auth'] as const) {
        const cnf = mutate({ ...w.holder.jwk });
        const claims = fullClaims(w, kind);
        if (cnf === undefined) delete claims.cnf;
        else claims.cnf = cnf;
        const jwt = forgeJwt(header(kind, w.signerOf(kind).kid), claims, w.signerOf(kind));
        await expectFailure(w.verifier.verify(jwt, { kinds: [kind] }), { reason, sig });
      }
    });
  }

  it('an ES256 issuer with an Ed25519 cnf and vice versa verify (keys are independent)', async () => {
    const w = createWorld('ES256', 'Ed25519');
    const v = await w.verifier.verify(w.issue('auth'), { kinds: ['auth'], audience: RS });
    expect(headerOf(v.raw).alg).toBe('ES256');
    expect(v.cnfKey.alg).toBe('Ed25519');
    expect(payloadOf(v.raw).sub).toBe('pairwise-123');
    expect(PS).toBe(v.claims.ps);
  });
});
