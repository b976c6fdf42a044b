import type { Clock, KeyPair, SignatureKeyMember } from '@aauth-ref/core';
import { generateKeyPair } from '@aauth-ref/core';
import type { Expected, NegativeCase } from './cases.js';
import { type ForgeOptions, flipSignatureBit, forgeRequest, withHeaders } from './forge.js';

/**
 * The signature failures every signed endpoint must refuse the same way (§HTTP Message Signatures
 * Profile, §Verification steps 1–7; Signature-Key §5 error codes): one row per failure, built from
 * a valid request to the endpoint by breaking exactly one thing.
 */

export interface SignedEndpoint {
  /** e.g. `PS POST /person`. */
  readonly label: string;
  readonly issuer: string;
  readonly clock: Clock;
  readonly method: string;
  readonly path: string | (() => string);
  readonly body?: unknown;
  /** A valid signer for this endpoint. */
  readonly signer: () => {
    key: Pick<KeyPair, 'alg' | 'privateKey'>;
    signatureKey: ForgeOptions['signatureKey'];
  };
  /** `Accept-Signature-Scheme` the endpoint answers with for a scheme it does not take. */
  readonly acceptSchemes: RegExp;
  /** A Signature-Key scheme registered but not accepted here. */
  readonly otherScheme: SignatureKeyMember | { readonly raw: string };
  /** The endpoint requires `content-type` and `content-digest` when there is a body. */
  readonly bodyCovered: boolean;
}

const sig = (code: string, extra: Partial<Expected> = {}): Expected => ({
  status: 401,
  signatureError: code,
  ...extra,
});

export function signatureFailureCases(endpoint: SignedEndpoint): NegativeCase[] {
  const forge = (overrides: Partial<ForgeOptions> = {}) => {
    const signer = endpoint.signer();
    const path = typeof endpoint.path === 'string' ? endpoint.path : endpoint.path();
    return forgeRequest({
      method: endpoint.method,
      path,
      issuer: endpoint.issuer,
      clock: endpoint.clock,
      ...(endpoint.body === undefined ? {} : { body: endpoint.body }),
      key: signer.key,
      signatureKey: signer.signatureKey,
      ...overrides,
    });
  };
  const base = ['@method', '@authority', '@path', 'signature-key'];
  const withBody = endpoint.body !== undefined;
  const name = (section: string, what: string) => `${endpoint.label}: ${what} (${section})`;
  const cases: NegativeCase[] = [
    {
      name: name('§Verification step 1', 'Signature-Input missing → invalid_request'),
      request: () => withHeaders(forge(), { 'signature-input': undefined }),
      expect: sig('invalid_request'),
    },
    {
      name: name('§Verification step 1', 'Signature missing → invalid_request'),
      request: () => withHeaders(forge(), { signature: undefined }),
      expect: sig('invalid_request'),
    },
    {
      name: name('§Verification step 1', 'Signature-Key missing → invalid_request'),
      request: () => withHeaders(forge(), { 'signature-key': undefined }),
      expect: sig('invalid_request'),
    },
    {
      name: name(
        '§Verification step 1',
        'Signature-Key under another label than the signature → invalid_request',
      ),
      request: () => forge({ keyLabel: 'other' }),
      expect: sig('invalid_request'),
    },
    {
      name: name(
        '§Verification step 1',
        'Signature-Input not a Structured Field Dictionary → invalid_request',
      ),
      request: () => withHeaders(forge(), { 'signature-input': 'sig=("@method" ;created=' }),
      expect: sig('invalid_request'),
    },
    {
      name: name('§Verification step 1', 'Signature member not a Byte Sequence → invalid_request'),
      request: () => withHeaders(forge(), { signature: 'sig="not-bytes"' }),
      expect: sig('invalid_request'),
    },
    {
      name: name('Signature-Key §3.10', 'an x509 member without its x5t parameter → invalid_request'),
      request: () => forge({ signatureKey: { raw: 'x509;x5u="https://client.example/cert.pem"' } }),
      expect: sig('invalid_request'),
    },
    {
      name: name('§Verification step 1', 'Signature-Key not a Dictionary → invalid_request'),
      request: () => withHeaders(forge(), { 'signature-key': 'sig=jwt;jwt=' }),
      expect: sig('invalid_request'),
    },
    {
      name: name('§Covered Components', '@authority not covered → invalid_input'),
      request: () =>
        forge({
          components: base
            .filter((c) => c !== '@authority')
            .concat(withBody ? ['content-type', 'content-digest'] : []),
        }),
      expect: sig('invalid_input'),
    },
    {
      name: name('§Covered Components', 'signature-key not covered → invalid_input'),
      request: () =>
        forge({
          components: base
            .filter((c) => c !== 'signature-key')
            .concat(withBody ? ['content-type', 'content-digest'] : []),
        }),
      expect: sig('invalid_input'),
    },
    {
      name: name('§Covered Components', '@method not covered → invalid_input'),
      request: () =>
        forge({
          components: base
            .filter((c) => c !== '@method')
            .concat(withBody ? ['content-type', 'content-digest'] : []),
        }),
      expect: sig('invalid_input'),
    },
    {
      name: name('§Verification step 3', 'created 2 minutes in the past → invalid_signature'),
      request: () => forge({ createdOffset: -120 }),
      expect: sig('invalid_signature'),
    },
    {
      name: name('§Verification step 3', 'created 2 minutes in the future → invalid_signature'),
      request: () => forge({ createdOffset: 120 }),
      expect: sig('invalid_signature'),
    },
    {
      name: name('§Signature Parameters', 'no created parameter → invalid_signature'),
      request: () => forge({ omitCreated: true }),
      expect: sig('invalid_signature'),
    },
    {
      name: name('§Signature Parameters', 'expires already past → invalid_signature'),
      request: () => forge({ extraParams: `;expires=${Math.floor(endpoint.clock.now() / 1000) - 1}` }),
      expect: sig('invalid_signature'),
    },
    {
      name: name('§Verification step 7', 'one bit of the signature flipped → invalid_signature'),
      request: () => flipSignatureBit(forge(), 13),
      expect: sig('invalid_signature'),
    },
    {
      name: name('§Verification step 7', 'signed by a key other than the presented one → invalid_signature'),
      request: () => forge({ key: generateKeyPair('Ed25519') }),
      expect: sig('invalid_signature'),
    },
    {
      name: name('§Verification step 7', 'signed for another @authority → invalid_signature'),
      request: () => forge({ issuer: 'https://elsewhere.example' }),
      expect: sig('invalid_signature'),
    },
    {
      name: name('§Verification step 4', 'a scheme this endpoint does not take → unsupported_scheme'),
      request: () => forge({ signatureKey: endpoint.otherScheme }),
      expect: sig('unsupported_scheme', { headers: { 'accept-signature-scheme': endpoint.acceptSchemes } }),
    },
    {
      name: name('§Verification step 4', 'an unregistered scheme → unsupported_scheme'),
      request: () => forge({ signatureKey: { raw: 'quantum-key;k="v"' } }),
      expect: sig('unsupported_scheme', { headers: { 'accept-signature-scheme': endpoint.acceptSchemes } }),
    },
    {
      name: name('Signature-Key §3.10', 'a well-formed x509 member (not implemented) → unsupported_scheme'),
      request: () =>
        forge({
          signatureKey: {
            raw: 'x509;x5u="https://client.example/cert.pem";x5t=:bWcoon4QTVn8Q6xiY0ekMD6L8bNLMkuDV2KtvsFc1nM=:',
          },
        }),
      expect: sig('unsupported_scheme', { headers: { 'accept-signature-scheme': endpoint.acceptSchemes } }),
    },
  ];
  if (withBody) {
    if (endpoint.bodyCovered) {
      cases.push({
        name: name('§Covered Components', 'content-digest not covered → invalid_input'),
        request: () => forge({ components: [...base, 'content-type'] }),
        expect: sig('invalid_input'),
      });
    }
    cases.push(
      {
        name: name('RFC 9530 §Content-Digest', 'Content-Digest of another body → invalid_signature'),
        request: () => forge({ contentDigest: 'sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:' }),
        expect: sig('invalid_signature'),
      },
      {
        name: name('RFC 9530 §Content-Digest', 'body changed after signing → invalid_signature'),
        request: () => forge({ sentBody: Buffer.from(JSON.stringify({ tampered: true })) }),
        expect: sig('invalid_signature'),
      },
      {
        name: name('RFC 9530 §Content-Digest', 'Content-Digest not a Dictionary → invalid_signature'),
        request: () => forge({ contentDigest: 'sha-256=not base64' }),
        expect: sig('invalid_signature'),
      },
    );
  }
  return cases;
}
