import { createPrivateKey, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type InnerList, isInnerList, parseDictionary, serializeDictionary } from 'structured-headers';
import { describe, expect, it } from 'vitest';
import { InvalidInput, SignatureInvalidRequest } from '../../src/errors.js';
import { buildSignatureBase, normalizeHeaders } from '../../src/httpsig/components.js';
import type { SignedRequestInput } from '../../src/httpsig/types.js';
import { verifyRequestSignature } from '../../src/httpsig/verify.js';
import { signBytes, verifyBytes } from '../../src/jwk.js';
import { createHarness, expectSignatureError } from './helpers.js';

interface Vector {
  key: { kid: string; privateJwk: Record<string, string>; publicKeyPem: string; privateKeyPem: string };
  request: { method: string; url: string; headers: Record<string, string>; body: string };
  label: string;
  created: number;
  signatureInput: string;
  signatureBase: string;
  signature: string;
}

const vector = JSON.parse(
  readFileSync(new URL('../vectors/rfc9421-b2.6.json', import.meta.url), 'utf8'),
) as Vector;

const publicKey = createPublicKey(vector.key.publicKeyPem);
const privateKey = createPrivateKey(vector.key.privateKeyPem);

function vectorRequest(extra: Record<string, string> = {}): SignedRequestInput {
  return {
    method: vector.request.method,
    url: vector.request.url,
    headers: {
      ...vector.request.headers,
      'signature-input': vector.signatureInput,
      signature: vector.signature,
      ...extra,
    },
    body: new TextEncoder().encode(vector.request.body),
  };
}

function selectedInput(): InnerList {
  const input = parseDictionary(vector.signatureInput).get(vector.label);
  if (!input || !isInnerList(input)) throw new Error('vector Signature-Input is not an Inner List');
  return input;
}

describe('RFC 9421 Appendix B.2.6 (ed25519) at the RFC 9421 layer', () => {
  it('the PEM test key and the JWK test key are the same key (B.1.4)', () => {
    const jwk = publicKey.export({ format: 'jwk' });
    expect(jwk.x).toBe(vector.key.privateJwk.x);
    const fromJwk = createPrivateKey({ key: vector.key.privateJwk, format: 'jwk' });
    expect(fromJwk.export({ format: 'pem', type: 'pkcs8' })).toBe(vector.key.privateKeyPem);
  });

  it('builds the exact signature base', () => {
    const request = vectorRequest();
    const base = buildSignatureBase(request, normalizeHeaders(request.headers), selectedInput());
    expect(base).toBe(vector.signatureBase);
  });

  it('verifies the published signature', () => {
    const request = vectorRequest();
    const base = buildSignatureBase(request, normalizeHeaders(request.headers), selectedInput());
    const sig = parseDictionary(vector.signature).get(vector.label)![0] as ArrayBuffer;
    expect(
      verifyBytes({ alg: 'Ed25519', keyObject: publicKey }, Buffer.from(base), new Uint8Array(sig)),
    ).toBe(true);
  });

  it('re-signs byte-exact (Ed25519 is deterministic)', () => {
    const request = vectorRequest();
    const base = buildSignatureBase(request, normalizeHeaders(request.headers), selectedInput());
    const signature = signBytes({ alg: 'Ed25519', privateKey }, Buffer.from(base));
    expect(serializeDictionary(new Map([[vector.label, [signature, new Map()]]]))).toBe(vector.signature);
  });
});

describe('RFC 9421 Appendix B.2.6 under the AAuth profile', () => {
  it('is rejected with invalid_request when no Signature-Key is present (§Verification step 1)', async () => {
    const h = createHarness();
    await expectSignatureError(verifyRequestSignature(vectorRequest(), {}, h.deps), {
      class: SignatureInvalidRequest,
      code: 'invalid_request',
    });
  });

  it('is rejected with invalid_input: it does not cover signature-key (§Verification step 2, Signature-Key §7.8)', async () => {
    const h = createHarness();
    const signatureKey = `${vector.label}=hwk;kty="OKP";crv="Ed25519";x="${vector.key.privateJwk.x}";alg="Ed25519"`;
    await expectSignatureError(
      verifyRequestSignature(vectorRequest({ 'signature-key': signatureKey }), { schemes: ['hwk'] }, h.deps),
      {
        class: InvalidInput,
        code: 'invalid_input',
        requiredInput: ['@method', '@authority', '@path', 'signature-key'],
      },
    );
  });
});
