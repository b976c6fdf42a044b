import { isInnerList, parseDictionary, serializeDictionary } from 'structured-headers';
import { describe, expect, it } from 'vitest';
import { computeContentDigest } from '../../src/content-digest.js';
import { DiscoveryError } from '../../src/discovery/types.js';
import {
  ExpiredJwt,
  InvalidInput,
  InvalidJwt,
  InvalidKey,
  InvalidSignature,
  IssuerMismatch,
  IssuerMissing,
  SignatureInvalidRequest,
  UnknownKey,
  UnsupportedAlgorithm,
  UnsupportedScheme,
} from '../../src/errors.js';
import { buildSignatureBase, normalizeHeaders } from '../../src/httpsig/components.js';
import type { SignedRequestInput } from '../../src/httpsig/types.js';
import { generateKeyPair, type KeyPair, SUPPORTED_ALGS, signBytes } from '../../src/jwk.js';
import { TokenVerificationError } from '../../src/tokens/token-error.js';
import {
  createHarness,
  expectSignatureError,
  fakeAgentToken,
  type Harness,
  NOW,
  publicHalf,
  signed,
  signedByAgent,
  toRequest,
  verify,
  withHeaders,
} from './helpers.js';

const PROFILE = ['@method', '@authority', '@path', 'signature-key'];
const JSON_BODY = { headers: { 'content-type': 'application/json' }, body: '{"scope":"data.read"}' };

describe('verifyRequestSignature — accepted requests', () => {
  it('returns undefined when none of the three headers is present (the route decides)', async () => {
    const h = createHarness();
    expect(await verify(h, toRequest())).toBeUndefined();
    expect(h.tokens.calls).toEqual([]);
  });

  it('verifies a jwt-scheme GET and reports the signer (§Keying Material)', async () => {
    const h = createHarness();
    const result = await verify(h, signedByAgent(h));
    expect(result).toMatchObject({
      label: 'sig',
      scheme: 'jwt',
      created: NOW,
      components: ['"@method"', '"@authority"', '"@path"', '"signature-key"'],
    });
    expect(result?.expires).toBeUndefined();
    expect(result?.key.thumbprint).toBe(h.holder.thumbprint);
    expect(result?.signer.scheme).toBe('jwt');
    if (result?.signer.scheme === 'jwt') expect(result.signer.token.raw).toBe(h.agentJwt);
    expect(result?.signature.byteLength).toBe(64);
    expect(h.tokens.calls).toEqual([{ jwt: h.agentJwt, kinds: ['agent', 'person', 'auth'] }]);
  });

  it('verifies an ES256 holder key', async () => {
    const h = createHarness('ES256');
    expect((await verify(h, signedByAgent(h)))?.key.alg).toBe('ES256');
  });

  it('passes the route token kinds to the token verifier', async () => {
    const h = createHarness();
    await verify(h, signedByAgent(h), { tokenKinds: ['auth'] });
    expect(h.tokens.calls[0]?.kinds).toEqual(['auth']);
  });

  it('verifies a signed body at a PS/AS route (content-type + content-digest covered)', async () => {
    const h = createHarness();
    const request = signedByAgent(h, { method: 'POST', ...JSON_BODY });
    const result = await verify(h, request, { requireBodyComponents: true });
    expect(result?.components).toEqual([...PROFILE, 'content-type', 'content-digest'].map((c) => `"${c}"`));
  });

  it('accepts created at the edge of the window and up to the allowed future skew (§Freshness and Replay)', async () => {
    const h = createHarness();
    const request = signedByAgent(h);
    h.clock.advance(60);
    expect(await verify(h, request)).toBeDefined();
    h.clock.advance(-65);
    expect(await verify(h, request)).toBeDefined();
  });

  it('honours a route window (signature_window)', async () => {
    const h = createHarness();
    const request = signedByAgent(h);
    h.clock.advance(200);
    expect(await verify(h, request, { windowSeconds: 300 })).toBeDefined();
  });

  it('ignores an alg signature parameter (§Signature Parameters, RFC 9421 §3.3.7)', async () => {
    const h = createHarness();
    const request = signedByAgent(h);
    const input = String(request.headers['signature-input']).replace(
      'created=',
      'alg="rsa-v1_5-sha256";created=',
    );
    const reSigned = resign(h, withHeaders(request, { 'signature-input': input }));
    expect(await verify(h, reSigned)).toBeDefined();
  });

  it('returns expires when present', async () => {
    const h = createHarness();
    const result = await verify(h, signedByAgent(h, {}, { expiresInSeconds: 30 }));
    expect(result?.expires).toBe(NOW + 30);
  });
});

/** Re-signs a request whose Signature-Input or Signature-Key was edited, so only the edit is under test. */
function resignWith(
  key: Pick<KeyPair, 'alg' | 'privateKey'>,
  request: SignedRequestInput,
): SignedRequestInput {
  const headers = { ...(request.headers as Record<string, string>) };
  const input = parseDictionary(headers['signature-input']!).get('sig');
  if (!input || !isInnerList(input)) throw new Error('test request has no sig input');
  const base = buildSignatureBase(request, normalizeHeaders(headers), input);
  headers.signature = serializeDictionary(new Map([['sig', [signBytes(key, Buffer.from(base)), new Map()]]]));
  return { ...request, headers };
}

function resign(h: Harness, request: SignedRequestInput): SignedRequestInput {
  return resignWith(h.holder, request);
}

describe('§Verification step 1 — headers and label selection (invalid_request)', () => {
  const missing = ['signature-input', 'signature', 'signature-key'];
  for (const name of missing) {
    it(`missing ${name}`, async () => {
      const h = createHarness();
      await expectSignatureError(verify(h, withHeaders(signedByAgent(h), { [name]: undefined })), {
        class: SignatureInvalidRequest,
        code: 'invalid_request',
      });
    });
  }

  it.each([
    ['Signature-Input not a dictionary', 'signature-input', 'sig=("@method"'],
    ['Signature not a dictionary', 'signature', 'sig=:abc'],
    ['Signature-Key not a dictionary', 'signature-key', 'sig=jwt;jwt="x'],
    ['Signature-Key member not a Token', 'signature-key', 'sig="jwt"'],
    ['Signature member not a Byte Sequence', 'signature', 'sig="abc"'],
    ['Signature-Input member not an Inner List', 'signature-input', 'sig="@method"'],
  ])('%s', async (_name, header, value) => {
    const h = createHarness();
    await expectSignatureError(verify(h, withHeaders(signedByAgent(h), { [header]: value })), {
      class: SignatureInvalidRequest,
      code: 'invalid_request',
    });
  });

  it('no label with a Signature-Key member (Signature-Key §3.1)', async () => {
    const h = createHarness();
    const request = signedByAgent(h);
    const key = String(request.headers['signature-key']).replace(/^sig=/, 'other=');
    await expectSignatureError(verify(h, withHeaders(request, { 'signature-key': key })), {
      class: SignatureInvalidRequest,
      code: 'invalid_request',
    });
  });

  it('two labels that both have Signature-Key members', async () => {
    const h = createHarness();
    const first = signedByAgent(h);
    const second = signedByAgent(h, {}, { label: 'sig2' });
    const request = withHeaders(first, {
      'signature-input': `${first.headers['signature-input']}, ${second.headers['signature-input']}`,
      signature: `${first.headers.signature}, ${second.headers.signature}`,
      'signature-key': `${first.headers['signature-key']}, ${second.headers['signature-key']}`,
    });
    await expectSignatureError(verify(h, request), {
      class: SignatureInvalidRequest,
      code: 'invalid_request',
    });
  });

  it('another label that would verify cannot rescue the selected label that does not', async () => {
    const h = createHarness();
    const good = signedByAgent(h, {}, { label: 'sig2' });
    const bad = signedByAgent(h, { method: 'DELETE' });
    // sig2 verifies on its own but has no Signature-Key member here; sig is selected and fails.
    const request = withHeaders(toRequest(), {
      'signature-input': `${good.headers['signature-input']}, ${bad.headers['signature-input']}`,
      signature: `${good.headers.signature}, ${bad.headers.signature}`,
      'signature-key': String(bad.headers['signature-key']),
    });
    await expectSignatureError(verify(h, request), { class: InvalidSignature, code: 'invalid_signature' });
  });

  it('labels without a Signature member or input are ignored; the one complete label is verified', async () => {
    const h = createHarness();
    const request = signedByAgent(h);
    const result = await verify(
      h,
      withHeaders(request, {
        'signature-input': `orphan=("@method");created=1, ${request.headers['signature-input']}`,
        signature: `${request.headers.signature}, lonely=:AAAA:`,
      }),
    );
    expect(result?.label).toBe('sig');
  });

  it('multiple field lines are combined (RFC 9110 §5.3)', async () => {
    const h = createHarness();
    const request = signedByAgent(h);
    const result = await verify(
      h,
      withHeaders(request, {
        'signature-input': [String(request.headers['signature-input']), 'x=()'] as never,
      }),
    );
    expect(result?.label).toBe('sig');
  });
});

describe('§Verification step 2 — required components (invalid_input with required_input)', () => {
  for (const component of PROFILE) {
    it(`${component} not covered`, async () => {
      const h = createHarness();
      const request = signedByAgent(h);
      const input = String(request.headers['signature-input'])
        .replace(`"${component}" `, '')
        .replace(` "${component}"`, '');
      await expectSignatureError(verify(h, resign(h, withHeaders(request, { 'signature-input': input }))), {
        class: InvalidInput,
        code: 'invalid_input',
        requiredInput: PROFILE,
      });
    });
  }

  for (const component of ['content-type', 'content-digest']) {
    it(`${component} not covered on a PS/AS body (§Covered Components)`, async () => {
      const h = createHarness();
      const request = signedByAgent(h, { method: 'POST', ...JSON_BODY });
      const input = String(request.headers['signature-input']).replace(` "${component}"`, '');
      await expectSignatureError(
        verify(h, resign(h, withHeaders(request, { 'signature-input': input })), {
          requireBodyComponents: true,
        }),
        {
          class: InvalidInput,
          code: 'invalid_input',
          requiredInput: [...PROFILE, 'content-type', 'content-digest'],
        },
      );
    });
  }

  it('a resource route does not require body components unless it says so', async () => {
    const h = createHarness();
    const request = signedByAgent(h, { method: 'POST', ...JSON_BODY });
    const input = String(request.headers['signature-input']).replace(' "content-type" "content-digest"', '');
    expect(await verify(h, resign(h, withHeaders(request, { 'signature-input': input })))).toBeDefined();
  });

  it('Authorization: AAuth present but not covered (§AAuth-Access Response Header)', async () => {
    const h = createHarness();
    const request = withHeaders(signedByAgent(h), { authorization: 'AAuth x' });
    await expectSignatureError(verify(h, request), {
      class: InvalidInput,
      code: 'invalid_input',
      requiredInput: [...PROFILE, 'authorization'],
    });
  });

  it('Authorization: AAuth covered verifies; another Authorization scheme is not required', async () => {
    const h = createHarness();
    const request = signedByAgent(h, { headers: { authorization: 'AAuth session-token' } });
    expect((await verify(h, request))?.components).toContain('"authorization"');
    const bearer = withHeaders(signedByAgent(h), { authorization: 'Bearer abc' });
    expect(await verify(h, bearer)).toBeDefined();
  });

  it('the route additional components (additional_signature_components)', async () => {
    const h = createHarness();
    await expectSignatureError(verify(h, signedByAgent(h), { additionalComponents: ['@query'] }), {
      class: InvalidInput,
      code: 'invalid_input',
      requiredInput: [...PROFILE, '@query'],
    });
    const covered = signedByAgent(
      h,
      { url: 'https://resource.example/api?x=1' },
      { additionalComponents: ['@query'] },
    );
    expect(await verify(h, covered, { additionalComponents: ['@query'] })).toBeDefined();
  });

  it('content-digest that does not match the body is invalid_signature', async () => {
    const h = createHarness();
    const request = signedByAgent(h, { method: 'POST', ...JSON_BODY });
    const tampered = { ...request, body: new TextEncoder().encode('{"scope":"data.write"}') };
    await expectSignatureError(verify(h, tampered, { requireBodyComponents: true }), {
      class: InvalidSignature,
      code: 'invalid_signature',
    });
    // The digest is checked whenever it is covered, also where the route does not require it.
    await expectSignatureError(verify(h, tampered), { class: InvalidSignature, code: 'invalid_signature' });
  });

  it('a replaced Content-Digest header (matching the new body) breaks the signature', async () => {
    const h = createHarness();
    const request = signedByAgent(h, { method: 'POST', ...JSON_BODY });
    const body = new TextEncoder().encode('{"scope":"data.write"}');
    const tampered = { ...withHeaders(request, { 'content-digest': computeContentDigest(body) }), body };
    await expectSignatureError(verify(h, tampered, { requireBodyComponents: true }), {
      class: InvalidSignature,
      code: 'invalid_signature',
    });
  });

  it('covered content-digest header absent is invalid_signature', async () => {
    const h = createHarness();
    const request = withHeaders(signedByAgent(h, { method: 'POST', ...JSON_BODY }), {
      'content-digest': undefined,
    });
    await expectSignatureError(verify(h, request, { requireBodyComponents: true }), {
      class: InvalidSignature,
      code: 'invalid_signature',
    });
  });
});

describe('§Verification step 3 — created and expires (invalid_signature)', () => {
  it('created missing', async () => {
    const h = createHarness();
    const request = signedByAgent(h);
    const input = String(request.headers['signature-input']).replace(/;created=\d+/, '');
    await expectSignatureError(verify(h, resign(h, withHeaders(request, { 'signature-input': input }))), {
      class: InvalidSignature,
      code: 'invalid_signature',
    });
  });

  it('created not an Integer', async () => {
    const h = createHarness();
    const request = signedByAgent(h);
    const input = String(request.headers['signature-input']).replace(/created=(\d+)/, 'created="$1"');
    await expectSignatureError(verify(h, resign(h, withHeaders(request, { 'signature-input': input }))), {
      class: InvalidSignature,
      code: 'invalid_signature',
    });
  });

  it('created 61 s old with the default 60 s window', async () => {
    const h = createHarness();
    const request = signedByAgent(h);
    h.clock.advance(61);
    await expectSignatureError(verify(h, request), { class: InvalidSignature, code: 'invalid_signature' });
    expect(h.tokens.calls).toEqual([]);
  });

  it('created 10 s in the future', async () => {
    const h = createHarness();
    const request = signedByAgent(h);
    h.clock.advance(-10);
    await expectSignatureError(verify(h, request), { class: InvalidSignature, code: 'invalid_signature' });
  });

  it('expires in the past (§Freshness and Replay: MUST reject)', async () => {
    const h = createHarness();
    const request = signedByAgent(h, {}, { expiresInSeconds: 5 });
    h.clock.advance(6);
    await expectSignatureError(verify(h, request), { class: InvalidSignature, code: 'invalid_signature' });
  });
});

describe('§Verification step 4 — scheme (unsupported_scheme with Accept-Signature-Scheme)', () => {
  it('hwk on a jwt-only route (§Signature-Key Scheme Rejection)', async () => {
    const h = createHarness();
    const request = signed({}, { key: h.holder, signatureKey: hwkOf(h.holder), clock: h.clock });
    await expectSignatureError(verify(h, request), {
      class: UnsupportedScheme,
      code: 'unsupported_scheme',
      acceptSchemes: ['jwt'],
    });
  });

  it.each([
    ['an unknown scheme', 'sig=future;k="v"'],
    ['jwks (registered, not implemented)', 'sig=jwks;url="https://a.example/jwks";kid="k"'],
    ['self-jwt', 'sig=self-jwt;jwt="eyJ"'],
    ['x509', 'sig=x509;x5u="https://a.example/c.pem";x5t=:AA==:'],
    ['cached', 'sig=cached;cid="abc"'],
  ])('%s', async (_name, signatureKey) => {
    const h = createHarness();
    const request = signedWithRawKey(h, signatureKey);
    await expectSignatureError(verify(h, request, { schemes: ['jwt', 'jwks_uri'] }), {
      class: UnsupportedScheme,
      code: 'unsupported_scheme',
      acceptSchemes: ['jwt', 'jwks_uri'],
    });
  });
});

/** Signs a request with an arbitrary Signature-Key value by swapping it in before signing. */
function signedWithRawKey(h: Harness, signatureKey: string) {
  const request = withHeaders(signedByAgent(h), { 'signature-key': signatureKey });
  return resign(h, request);
}

function hwkOf(pair: Pick<KeyPair, 'jwk'>, extra: Record<string, string> = {}) {
  const { kid: _kid, ...rest } = pair.jwk;
  return { scheme: 'hwk' as const, jwk: { ...(rest as Record<string, string>), ...extra } };
}

describe('§Verification step 5/6 — jwt scheme', () => {
  it.each([
    ['malformed', InvalidJwt, 'invalid_jwt'],
    ['signature', InvalidJwt, 'invalid_jwt'],
    ['typ', InvalidJwt, 'invalid_jwt'],
    ['expired', ExpiredJwt, 'expired_jwt'],
    ['unknown_key', UnknownKey, 'unknown_key'],
    ['issuer_missing', IssuerMissing, 'issuer_missing'],
    ['issuer_mismatch', IssuerMismatch, 'issuer_mismatch'],
    ['key', InvalidKey, 'invalid_key'],
  ] as const)('token failure %s → %s', async (reason, cls, code) => {
    const h = createHarness();
    h.tokens.reject(h.agentJwt, new TokenVerificationError(reason, 'library says no'));
    await expectSignatureError(verify(h, signedByAgent(h)), { class: cls, code });
  });

  it('token failure unsupported_key → unsupported_algorithm with Accept-Signature-Alg', async () => {
    const h = createHarness();
    h.tokens.reject(h.agentJwt, new TokenVerificationError('unsupported_key', 'x'));
    await expectSignatureError(verify(h, signedByAgent(h)), {
      class: UnsupportedAlgorithm,
      code: 'unsupported_algorithm',
      acceptAlgs: SUPPORTED_ALGS,
    });
  });

  it('cnf key differing from the signing key is invalid_signature (§Verification step 7)', async () => {
    const h = createHarness();
    const other = generateKeyPair('Ed25519');
    const request = signed(
      {},
      { key: other, signatureKey: { scheme: 'jwt', jwt: h.agentJwt }, clock: h.clock },
    );
    await expectSignatureError(verify(h, request), { class: InvalidSignature, code: 'invalid_signature' });
  });

  it('a cnf key of the other algorithm than the signing key is invalid_signature', async () => {
    const h = createHarness();
    const es = generateKeyPair('ES256');
    const jwt = fakeAgentToken(h.tokens, es, 'es-token');
    const request = signed({}, { key: h.holder, signatureKey: { scheme: 'jwt', jwt }, clock: h.clock });
    await expectSignatureError(verify(h, request), { class: InvalidSignature, code: 'invalid_signature' });
  });
});

describe('§Verification step 5/6 — hwk scheme (Signature-Key §3.4)', () => {
  const policy = { schemes: ['hwk'] as const };

  it('verifies and reports the thumbprint', async () => {
    const h = createHarness();
    const request = signed({}, { key: h.holder, signatureKey: hwkOf(h.holder), clock: h.clock });
    const result = await verify(h, request, policy);
    expect(result?.signer).toEqual({
      scheme: 'hwk',
      thumbprint: h.holder.thumbprint,
      jwk: hwkOf(h.holder).jwk,
    });
  });

  it.each([
    ['alg EdDSA', { alg: 'EdDSA' }, UnsupportedAlgorithm, 'unsupported_algorithm', SUPPORTED_ALGS],
    [
      'alg Ed448 (not implemented)',
      { alg: 'Ed448' },
      UnsupportedAlgorithm,
      'unsupported_algorithm',
      SUPPORTED_ALGS,
    ],
    ['crv disagreeing with alg', { crv: 'X25519' }, InvalidKey, 'invalid_key', undefined],
    ['a kid', { kid: 'k1' }, InvalidKey, 'invalid_key', undefined],
    ['a malformed x', { x: 'short' }, InvalidKey, 'invalid_key', undefined],
  ] as const)('%s', async (_name, extra, cls, code, acceptAlgs) => {
    const h = createHarness();
    const request = signed({}, { key: h.holder, signatureKey: hwkOf(h.holder, extra), clock: h.clock });
    await expectSignatureError(verify(h, request, policy), { class: cls, code, acceptAlgs });
  });

  it('without alg → unsupported_algorithm (§Signature Algorithms: MUST reject)', async () => {
    const h = createHarness();
    const { alg: _alg, ...jwk } = hwkOf(h.holder).jwk;
    const request = signed({}, { key: h.holder, signatureKey: { scheme: 'hwk', jwk }, clock: h.clock });
    await expectSignatureError(verify(h, request, policy), {
      class: UnsupportedAlgorithm,
      code: 'unsupported_algorithm',
      acceptAlgs: SUPPORTED_ALGS,
    });
  });

  it('an ES256 hwk with a P-384 crv is invalid_key', async () => {
    const h = createHarness('ES256');
    const request = signed(
      {},
      { key: h.holder, signatureKey: hwkOf(h.holder, { crv: 'P-384' }), clock: h.clock },
    );
    await expectSignatureError(verify(h, request, policy), { class: InvalidKey, code: 'invalid_key' });
  });
});

describe('§Verification step 5 — jwks_uri scheme (Signature-Key §3.6)', () => {
  const PS = 'https://ps.example';
  const policy = { schemes: ['jwks_uri'] as const, jwksUriDwks: ['aauth-person.json'] as const };
  const member = { scheme: 'jwks_uri' as const, id: PS, dwk: 'aauth-person.json', kid: 'ps-1' };

  function setup() {
    const h = createHarness();
    const server = generateKeyPair('Ed25519', 'ps-1');
    h.keys.publish(PS, 'aauth-person.json', 'ps-1', publicHalf(server));
    return { h, server };
  }

  it('verifies with the discovered key and reports id, dwk, kid', async () => {
    const { h, server } = setup();
    const request = signed(
      { method: 'POST', ...JSON_BODY },
      { key: server, signatureKey: member, clock: h.clock },
    );
    const result = await verify(h, request, { ...policy, requireBodyComponents: true });
    expect(result?.signer).toEqual({ scheme: 'jwks_uri', id: PS, dwk: 'aauth-person.json', kid: 'ps-1' });
    expect(h.keys.calls).toEqual([{ iss: PS, dwk: 'aauth-person.json', kid: 'ps-1', refresh: false }]);
  });

  it.each([
    ['issuer_mismatch', IssuerMismatch, 'issuer_mismatch', undefined],
    ['issuer_missing', IssuerMissing, 'issuer_missing', undefined],
    ['unknown_key', UnknownKey, 'unknown_key', undefined],
    ['key', InvalidKey, 'invalid_key', undefined],
    ['unsupported_key', UnsupportedAlgorithm, 'unsupported_algorithm', SUPPORTED_ALGS],
    ['metadata', InvalidKey, 'invalid_key', undefined],
    ['egress', InvalidKey, 'invalid_key', undefined],
    ['network', InvalidKey, 'invalid_key', undefined],
  ] as const)('discovery failure %s', async (reason, cls, code, acceptAlgs) => {
    const { h, server } = setup();
    h.keys.publish(PS, 'aauth-person.json', 'ps-1', new DiscoveryError(reason, 'internal'));
    const request = signed({}, { key: server, signatureKey: member, clock: h.clock });
    await expectSignatureError(verify(h, request, policy), { class: cls, code, acceptAlgs });
  });

  it('an id that is not a server identifier is invalid_key and is never fetched', async () => {
    const { h, server } = setup();
    const request = signed(
      {},
      { key: server, signatureKey: { ...member, id: 'http://ps.example' }, clock: h.clock },
    );
    await expectSignatureError(verify(h, request, policy), { class: InvalidKey, code: 'invalid_key' });
    expect(h.keys.calls).toEqual([]);
  });

  it('a dwk the route does not accept is invalid_key', async () => {
    const { h, server } = setup();
    const request = signed(
      {},
      { key: server, signatureKey: { ...member, dwk: 'aauth-agent.json' }, clock: h.clock },
    );
    await expectSignatureError(verify(h, request, policy), { class: InvalidKey, code: 'invalid_key' });
    expect(h.keys.calls).toEqual([]);
  });

  it('keyid equal to kid is fine; a different keyid is invalid_signature (§Signature Parameters)', async () => {
    const { h, server } = setup();
    const request = signed({}, { key: server, signatureKey: member, clock: h.clock });
    const withKeyid = (keyid: string) =>
      resignWith(
        server,
        withHeaders(request, {
          'signature-input': String(request.headers['signature-input']).replace(
            'created=',
            `keyid="${keyid}";created=`,
          ),
        }),
      );
    expect(await verify(h, withKeyid('ps-1'), policy)).toBeDefined();
    await expectSignatureError(verify(h, withKeyid('other'), policy), {
      class: InvalidSignature,
      code: 'invalid_signature',
    });
  });

  it('silent re-keying: a cached key that fails is refreshed once and retried (§JWKS Discovery and Caching)', async () => {
    const { h } = setup();
    const rotated = generateKeyPair('Ed25519', 'ps-1');
    h.keys.publishOnRefresh(PS, 'aauth-person.json', 'ps-1', publicHalf(rotated));
    const request = signed({}, { key: rotated, signatureKey: member, clock: h.clock });
    const result = await verify(h, request, policy);
    expect(result?.key.thumbprint).toBe(rotated.thumbprint);
    expect(h.keys.calls.map((c) => c.refresh)).toEqual([false, true]);
  });

  it('a signature that fails after the refresh is invalid_signature; a key gone after refresh is unknown_key', async () => {
    const { h } = setup();
    const stranger = generateKeyPair('Ed25519', 'ps-1');
    const request = signed({}, { key: stranger, signatureKey: member, clock: h.clock });
    await expectSignatureError(verify(h, request, policy), {
      class: InvalidSignature,
      code: 'invalid_signature',
    });
    expect(h.keys.calls.map((c) => c.refresh)).toEqual([false, true]);
    h.keys.publishOnRefresh(PS, 'aauth-person.json', 'ps-1', new DiscoveryError('unknown_key', 'gone'));
    await expectSignatureError(verify(h, request, policy), { class: UnknownKey, code: 'unknown_key' });
  });
});

describe('§Verification step 7 — the signature covers what it says (invalid_signature)', () => {
  it.each([
    ['method', { method: 'DELETE' }],
    ['authority', { url: 'https://other.example/api/data' }],
    ['path', { url: 'https://resource.example/api/admin' }],
  ])('a different %s', async (_name, change) => {
    const h = createHarness();
    const request = signedByAgent(h);
    await expectSignatureError(verify(h, { ...request, ...change }), {
      class: InvalidSignature,
      code: 'invalid_signature',
    });
  });

  it('a covered header that is absent from the request', async () => {
    const h = createHarness();
    const request = withHeaders(signedByAgent(h, { headers: { authorization: 'AAuth t' } }), {
      authorization: undefined,
    });
    await expectSignatureError(verify(h, request), { class: InvalidSignature, code: 'invalid_signature' });
  });

  it('a swapped Signature-Key (same token, other label text) does not verify', async () => {
    const h = createHarness();
    const request = signedByAgent(h);
    const key = `${request.headers['signature-key']};cache`;
    await expectSignatureError(verify(h, withHeaders(request, { 'signature-key': key })), {
      class: InvalidSignature,
      code: 'invalid_signature',
    });
  });

  it('a covered component listed twice', async () => {
    const h = createHarness();
    const request = signedByAgent(h);
    const input = String(request.headers['signature-input']).replace('"@path"', '"@path" "@path"');
    await expectSignatureError(verify(h, withHeaders(request, { 'signature-input': input })), {
      class: InvalidSignature,
      code: 'invalid_signature',
    });
  });
});

describe('performance contract', () => {
  it('a warm jwt request costs one token lookup and no discovery', async () => {
    const h = createHarness();
    for (let i = 0; i < 3; i++) await verify(h, signedByAgent(h));
    expect(h.tokens.calls).toHaveLength(3);
    expect(h.keys.calls).toEqual([]);
  });
});
