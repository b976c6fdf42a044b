import { type KeyPair, signBytes } from '@aauth-ref/core';

/**
 * Signs an arbitrary header and payload as a compact JWS with no checks at all, for malformed and
 * forged tokens (wrong `typ`, `EdDSA`, missing claims, another issuer's key). `alg` is taken from
 * the header when present, else from the key.
 */
export function makeRawJwt(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  key: Pick<KeyPair, 'alg' | 'privateKey'>,
): string {
  const fullHeader = { alg: key.alg, ...header };
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const signingInput = `${encode(fullHeader)}.${encode(payload)}`;
  const signature = signBytes(key, Buffer.from(signingInput)).toString('base64url');
  return `${signingInput}.${signature}`;
}
