import { describe, expect, it } from 'vitest';
import {
  createLocalKeyResolver,
  createOutboundSigner,
  createTokenVerifier,
  DEV,
  DWK,
  generateKeyPair,
  verifyRequestSignature,
} from '../src/index.js';

const PS = 'https://ps.example';
const clock = { now: () => Date.UTC(2026, 10, 29, 12) };

// Signature-Key §3.6 (jwks_uri) as servers use it to sign as themselves (§Token Revocation).
describe('createOutboundSigner', () => {
  it('signs a JSON POST with jwks_uri that the recipient verifies from the published key', async () => {
    const key = generateKeyPair('Ed25519', 'ps-1');
    const signer = createOutboundSigner({ issuer: PS, dwk: DWK.person, key: () => key, clock });
    const { request, omittedComponents } = signer.signJsonPost(
      'https://resource.example/revoke',
      { iss: PS, jti: 'j1' },
      ['content-type', 'content-digest', 'x-tenant'],
    );
    expect(omittedComponents).toEqual(['x-tenant']);
    expect(request.headers['signature-key']).toBe(
      `sig=jwks_uri;id="${PS}";dwk="aauth-person.json";kid="ps-1"`,
    );
    const keys = createLocalKeyResolver([
      { issuer: PS, dwk: DWK.person, keys: [key], metadata: { issuer: PS } },
    ]);
    const verified = await verifyRequestSignature(
      { method: 'POST', url: request.url, headers: request.headers, body: request.body },
      { schemes: ['jwks_uri'], jwksUriDwks: [DWK.person], requireBodyComponents: true },
      {
        clock,
        keys,
        tokens: createTokenVerifier({ clock, keys, identifierPolicy: DEV }),
        identifierPolicy: DEV,
      },
    );
    expect(verified?.signer).toEqual({ scheme: 'jwks_uri', id: PS, dwk: DWK.person, kid: 'ps-1' });
    expect(JSON.parse(request.body.toString('utf8'))).toEqual({ iss: PS, jti: 'j1' });
  });
});
