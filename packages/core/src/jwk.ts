import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  sign,
  verify,
} from 'node:crypto';
import { InvalidKey, UnsupportedAlgorithm } from './errors.js';

/**
 * Keys and JWKs under the Algorithm Determination rules (§Signature Algorithms; Signature-Key §3.3):
 * every JWK carries a fully-specified `alg`; `EdDSA`, `none` and symmetric keys are refused; `kty`
 * and `crv` must agree with `alg`.
 */

/** The algorithms this implementation signs and verifies with (JOSE identifiers). */
export type SigningAlg = 'Ed25519' | 'ES256';
export const SUPPORTED_ALGS: readonly SigningAlg[] = ['Ed25519', 'ES256'];

/** HTTP Signature Algorithms registry names of the same algorithms (RFC 9421 §6.2). */
export const HTTP_SIG_ALG_NAMES: Readonly<Record<SigningAlg, string>> = {
  Ed25519: 'ed25519',
  ES256: 'ecdsa-p256-sha256',
};

/** Fully-specified identifiers we recognise but do not implement: `unsupported_algorithm`. */
const KNOWN_UNSUPPORTED = new Set([
  'Ed448',
  'ES384',
  'ES512',
  'ES256K',
  'PS256',
  'PS384',
  'PS512',
  'RS256',
  'RS384',
  'RS512',
  'ML-DSA-44',
  'ML-DSA-65',
  'ML-DSA-87',
]);

export interface PublicJwk {
  kty: 'OKP' | 'EC';
  crv: 'Ed25519' | 'P-256';
  x: string;
  y?: string;
  alg: SigningAlg;
  kid?: string;
  use?: string;
}

/** A checked public key ready to verify with. */
export interface VerificationKey {
  readonly alg: SigningAlg;
  readonly jwk: PublicJwk;
  readonly keyObject: KeyObject;
  /** RFC 7638 SHA-256 thumbprint, base64url (the `agent_jkt` value). */
  readonly thumbprint: string;
}

/** A private key with its public half. */
export interface KeyPair extends VerificationKey {
  readonly kid: string;
  readonly privateKey: KeyObject;
}

/** Why a JWK was refused; the caller picks the wire error for its context. */
export type KeyProblem = 'missing_alg' | 'unsupported' | 'inconsistent' | 'malformed';

export class KeyCheckError extends Error {
  readonly problem: KeyProblem;
  constructor(problem: KeyProblem, message: string) {
    super(message);
    this.name = 'KeyCheckError';
    this.problem = problem;
  }
}

const EXPECTED: Readonly<Record<SigningAlg, { kty: 'OKP' | 'EC'; crv: 'Ed25519' | 'P-256' }>> = {
  Ed25519: { kty: 'OKP', crv: 'Ed25519' },
  ES256: { kty: 'EC', crv: 'P-256' },
};

const B64URL = /^[A-Za-z0-9_-]+$/;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Checks a JWK against Algorithm Determination and returns its public members only.
 * Throws `KeyCheckError`.
 */
export function checkPublicJwk(input: unknown): PublicJwk {
  if (!isRecord(input)) throw new KeyCheckError('malformed', 'JWK is not an object');
  const { kty, crv, x, y, alg, kid, use } = input;
  if (kty === 'oct' || (typeof alg === 'string' && /^HS\d+$/.test(alg))) {
    throw new KeyCheckError('unsupported', 'symmetric keys are not allowed');
  }
  if (alg === undefined) throw new KeyCheckError('missing_alg', 'JWK has no alg');
  if (typeof alg !== 'string') throw new KeyCheckError('malformed', 'JWK alg is not a string');
  if (alg === 'EdDSA' || alg === 'none') {
    throw new KeyCheckError('unsupported', `alg ${alg} is not fully specified or is prohibited`);
  }
  if (!(SUPPORTED_ALGS as readonly string[]).includes(alg)) {
    throw new KeyCheckError(
      'unsupported',
      KNOWN_UNSUPPORTED.has(alg) ? `alg ${alg} is not implemented` : `alg ${alg} is not recognised`,
    );
  }
  const expected = EXPECTED[alg as SigningAlg];
  if (kty !== expected.kty)
    throw new KeyCheckError('inconsistent', `kty ${String(kty)} disagrees with alg ${alg}`);
  if (crv !== undefined && crv !== expected.crv) {
    throw new KeyCheckError('inconsistent', `crv ${String(crv)} disagrees with alg ${alg}`);
  }
  if (crv === undefined) throw new KeyCheckError('malformed', 'JWK has no crv');
  if ('d' in input) throw new KeyCheckError('malformed', 'a public JWK must not carry private members');
  if (typeof x !== 'string' || !B64URL.test(x))
    throw new KeyCheckError('malformed', 'JWK x is missing or not base64url');
  const jwk: PublicJwk = { kty: expected.kty, crv: expected.crv, x, alg: alg as SigningAlg };
  if (expected.kty === 'EC') {
    if (typeof y !== 'string' || !B64URL.test(y)) throw new KeyCheckError('malformed', 'EC JWK y is missing');
    jwk.y = y;
  }
  const raw = Buffer.from(x, 'base64url');
  if (raw.length !== 32) throw new KeyCheckError('malformed', 'JWK x has the wrong length');
  // Only the canonical encoding: otherwise one key has several `x` strings and several thumbprints.
  if (raw.toString('base64url') !== x)
    throw new KeyCheckError('malformed', 'JWK x is not canonical base64url');
  if (expected.kty === 'EC') {
    const rawY = Buffer.from(jwk.y!, 'base64url');
    if (rawY.length !== 32) throw new KeyCheckError('malformed', 'JWK y has the wrong length');
    if (rawY.toString('base64url') !== jwk.y)
      throw new KeyCheckError('malformed', 'JWK y is not canonical base64url');
  }
  if (typeof kid === 'string') jwk.kid = kid;
  if (typeof use === 'string') jwk.use = use;
  return jwk;
}

/** Maps a `KeyCheckError` to the Signature-Error of §Verification step 6. */
export function keyCheckToSignatureError(err: KeyCheckError): InvalidKey | UnsupportedAlgorithm {
  if (err.problem === 'missing_alg' || err.problem === 'unsupported') {
    return new UnsupportedAlgorithm(err.message, { cause: err, acceptAlgs: SUPPORTED_ALGS });
  }
  return new InvalidKey(err.message, { cause: err });
}

/** The members RFC 7638 §3.2 hashes, for every key type a thumbprint may be asked of. */
export type ThumbprintInput =
  | Pick<PublicJwk, 'kty' | 'crv' | 'x' | 'y'>
  | { readonly kty: 'RSA'; readonly n: string; readonly e: string };

/**
 * RFC 7638 JWK thumbprint (base64url of the SHA-256, or SHA-512, of the required members in
 * lexicographic order). RSA is covered so a thumbprint can name any key a peer presents, even one we
 * would not verify with.
 */
export function jwkThumbprint(jwk: ThumbprintInput, hash: 'sha256' | 'sha512' = 'sha256'): string {
  let canonical: string;
  if (jwk.kty === 'EC') {
    canonical = `{"crv":${JSON.stringify(jwk.crv)},"kty":"EC","x":${JSON.stringify(jwk.x)},"y":${JSON.stringify(jwk.y)}}`;
  } else if (jwk.kty === 'OKP') {
    canonical = `{"crv":${JSON.stringify(jwk.crv)},"kty":"OKP","x":${JSON.stringify(jwk.x)}}`;
  } else if (jwk.kty === 'RSA') {
    canonical = `{"e":${JSON.stringify(jwk.e)},"kty":"RSA","n":${JSON.stringify(jwk.n)}}`;
  } else {
    throw new KeyCheckError(
      'unsupported',
      `no thumbprint rule for kty ${String((jwk as { kty: unknown }).kty)}`,
    );
  }
  return createHash(hash).update(canonical).digest('base64url');
}

/** Checks and imports a public JWK. Throws `KeyCheckError`. */
export function importPublicJwk(input: unknown): VerificationKey {
  const jwk = checkPublicJwk(input);
  let keyObject: KeyObject;
  try {
    const { kty, crv, x, y } = jwk;
    keyObject = createPublicKey({
      key: y === undefined ? { kty, crv, x } : { kty, crv, x, y },
      format: 'jwk',
    });
  } catch (cause) {
    throw Object.assign(new KeyCheckError('malformed', 'JWK is not a valid public key'), { cause });
  }
  return { alg: jwk.alg, jwk, keyObject, thumbprint: jwkThumbprint(jwk) };
}

function newKid(): string {
  return randomBytes(9).toString('base64url');
}

function fromKeyObjects(alg: SigningAlg, privateKey: KeyObject, publicKey: KeyObject, kid: string): KeyPair {
  const exported = publicKey.export({ format: 'jwk' }) as { kty: string; crv: string; x: string; y?: string };
  const jwk: PublicJwk = { kty: EXPECTED[alg].kty, crv: EXPECTED[alg].crv, x: exported.x, alg, kid };
  if (exported.y !== undefined) jwk.y = exported.y;
  return { alg, jwk, keyObject: publicKey, thumbprint: jwkThumbprint(jwk), kid, privateKey };
}

/** Generates a signing key pair (Ed25519 by default). */
export function generateKeyPair(alg: SigningAlg = 'Ed25519', kid: string = newKid()): KeyPair {
  const { privateKey, publicKey } =
    alg === 'Ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return fromKeyObjects(alg, privateKey, publicKey, kid);
}

/** A private JWK as persisted (e.g. `SIGNING_KEYS`): public members plus `d`, with `alg` and `kid`. */
export interface PrivateJwk extends PublicJwk {
  d: string;
  kid: string;
}

export function exportPrivateJwk(pair: KeyPair): PrivateJwk {
  const exported = pair.privateKey.export({ format: 'jwk' }) as { d: string };
  return { ...pair.jwk, kid: pair.kid, d: exported.d };
}

/** Imports a private JWK (must carry `alg`; `kid` is generated when absent). Throws `KeyCheckError`. */
export function importPrivateJwk(input: unknown): KeyPair {
  if (!isRecord(input) || typeof input.d !== 'string') {
    throw new KeyCheckError('malformed', 'private JWK has no d');
  }
  const { d, ...pub } = input;
  const jwk = checkPublicJwk(pub);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({
      key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, ...(jwk.y ? { y: jwk.y } : {}), d },
      format: 'jwk',
    });
  } catch (cause) {
    throw Object.assign(new KeyCheckError('malformed', 'private JWK is not a valid key'), { cause });
  }
  const publicKey = createPublicKey(privateKey);
  return fromKeyObjects(jwk.alg, privateKey, publicKey, typeof input.kid === 'string' ? input.kid : newKid());
}

/** Raw signature bytes as JOSE and RFC 9421 both use them (ECDSA in IEEE P1363 form). */
export function signBytes(pair: Pick<KeyPair, 'alg' | 'privateKey'>, data: Uint8Array): Buffer {
  return pair.alg === 'Ed25519'
    ? sign(null, data, pair.privateKey)
    : sign('sha256', data, { key: pair.privateKey, dsaEncoding: 'ieee-p1363' });
}

export function verifyBytes(
  key: Pick<VerificationKey, 'alg' | 'keyObject'>,
  data: Uint8Array,
  signature: Uint8Array,
): boolean {
  try {
    return key.alg === 'Ed25519'
      ? verify(null, data, key.keyObject, signature)
      : verify('sha256', data, { key: key.keyObject, dsaEncoding: 'ieee-p1363' }, signature);
  } catch {
    return false;
  }
}

/** A JWKS for publishing: public members, `alg` and `kid` on every key, nothing else. */
export function toPublicJwks(keys: ReadonlyArray<Pick<KeyPair, 'jwk' | 'kid'>>): { keys: PublicJwk[] } {
  return {
    keys: keys.map(({ jwk, kid }) => {
      const out: PublicJwk = { kty: jwk.kty, crv: jwk.crv, x: jwk.x, alg: jwk.alg, kid };
      if (jwk.y !== undefined) out.y = jwk.y;
      return out;
    }),
  };
}
