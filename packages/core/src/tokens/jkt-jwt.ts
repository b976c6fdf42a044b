import { type Clock, epochSeconds } from '../clock.js';
import {
  checkPublicJwk,
  importPublicJwk,
  jwkThumbprint,
  KeyCheckError,
  type KeyPair,
  type PublicJwk,
  type VerificationKey,
  verifyBytes,
} from '../jwk.js';
import type { JktJwtClaims } from './claims.js';
import { generateJti, signJws } from './issue.js';
import { decodeCompactJws } from './jwt-codec.js';
import { type TokenFailureReason, TokenVerificationError } from './token-error.js';
import type { VerifiedJktJwt } from './types.js';
import { checkHeaderAlg, importConfirmationKey } from './verify.js';

/**
 * Self-issued key delegation, Signature-Key §3.5 (`jkt-jwt`): the durable key in the header `jwk`
 * signs a JWT whose `cnf.jwk` is the key that signs HTTP requests. The AP's refresh ceremony uses it.
 */

export type JktHash = 'sha-256' | 'sha-512';

/** Signature-Key §3.5 Table 1: typ ↔ thumbprint hash ↔ `iss` prefix. */
export const JKT_JWT_TYP: Readonly<Record<JktHash, string>> = {
  'sha-256': 'jkt-s256+jwt',
  'sha-512': 'jkt-s512+jwt',
};

const HASH_BY_TYP: ReadonlyMap<string, JktHash> = new Map([
  ['jkt-s256+jwt', 'sha-256'],
  ['jkt-s512+jwt', 'sha-512'],
]);

const DEFAULT_SKEW_SECONDS = 60;
/** Policy bound on a delegation's lifetime (§3.5 step 9 "per policy"); the draft's example spans 24 h. */
const DEFAULT_MAX_LIFETIME_SECONDS = 24 * 3600;

/** `urn:jkt:<hash>:<RFC 7638 thumbprint>` of a JWK. */
export function jktUri(jwk: Pick<PublicJwk, 'kty' | 'crv' | 'x' | 'y'>, hash: JktHash = 'sha-256'): string {
  return `urn:jkt:${hash}:${jwkThumbprint(jwk, hash === 'sha-256' ? 'sha256' : 'sha512')}`;
}

export interface IssueJktJwtOptions {
  readonly clock: Clock;
  readonly lifetimeSeconds: number;
  readonly jti?: string;
  /** Thumbprint hash; default `sha-256` (`jkt-s256+jwt`, the one every implementation supports). */
  readonly hash?: JktHash;
}

/**
 * Signs a `jkt-s256+jwt` with the durable key, delegating to `newPublicJwk` (the agent side of the AP
 * refresh ceremony). Throws `TypeError` on an unusable key or lifetime.
 */
export function issueJktJwt(
  durableKeyPair: Pick<KeyPair, 'alg' | 'jwk' | 'privateKey'>,
  newPublicJwk: PublicJwk,
  options: IssueJktJwtOptions,
): string {
  const hash = options.hash ?? 'sha-256';
  let durableJwk: PublicJwk;
  let cnfJwk: PublicJwk;
  try {
    durableJwk = checkPublicJwk(durableKeyPair.jwk);
    cnfJwk = checkPublicJwk(newPublicJwk);
  } catch (cause) {
    throw new TypeError('jkt-jwt keys must be acceptable public JWKs', { cause });
  }
  if (durableJwk.alg !== durableKeyPair.alg)
    throw new TypeError('the durable key alg disagrees with its JWK');
  const { lifetimeSeconds } = options;
  if (!Number.isFinite(lifetimeSeconds) || lifetimeSeconds < 1)
    throw new TypeError('lifetimeSeconds must be ≥ 1');
  const iat = epochSeconds(options.clock);
  const { kid: _kid, use: _use, ...headerJwk } = durableJwk;
  const claims: JktJwtClaims = {
    iss: jktUri(durableJwk, hash),
    iat,
    exp: iat + Math.floor(lifetimeSeconds),
    jti: options.jti ?? generateJti(),
    cnf: { jwk: cnfJwk },
  };
  return signJws({ typ: JKT_JWT_TYP[hash], alg: durableKeyPair.alg, jwk: headerJwk }, claims, durableKeyPair);
}

export interface VerifyJktJwtOptions {
  readonly clock: Clock;
  /** Allowed clock skew for `iat` in the future, seconds (default 60). */
  readonly skewSeconds?: number;
  /** Longest acceptable `exp - iat` (default 24 h). */
  readonly maxLifetimeSeconds?: number;
}

function fail(reason: TokenFailureReason, message: string, cause?: unknown): never {
  throw new TokenVerificationError(reason, message, cause === undefined ? undefined : { cause });
}

function importHeaderJwk(jwk: unknown): VerificationKey {
  if (jwk === undefined) fail('malformed', 'jkt-jwt header has no jwk');
  try {
    return importPublicJwk(jwk);
  } catch (err) {
    if (err instanceof KeyCheckError) {
      const unsupported = err.problem === 'missing_alg' || err.problem === 'unsupported';
      fail(unsupported ? 'unsupported_key' : 'key', `jkt-jwt header jwk: ${err.message}`, err);
    }
    throw err;
  }
}

/**
 * Signature-Key §3.5 verification procedure, steps 1-10. Throws `TokenVerificationError`; the HTTP
 * layer verifies the request signature with `ephemeralKey` (step 11).
 */
export function verifyJktJwt(jwt: string, options: VerifyJktJwtOptions): VerifiedJktJwt {
  // 1. Parse without verifying.
  const decoded = decodeCompactJws(jwt);
  const { header, payload } = decoded;
  // 2-3. typ → hash algorithm and iss prefix.
  const hash = HASH_BY_TYP.get(header.typ);
  if (hash === undefined) fail('typ', `typ ${header.typ} is not a supported jkt-jwt type`);
  const alg = checkHeaderAlg(header.alg);
  if (typeof payload.iss !== 'string') fail('malformed', 'jkt-jwt iss is missing');
  if (typeof payload.iat !== 'number' || !Number.isFinite(payload.iat))
    fail('malformed', 'jkt-jwt iat is missing');
  if (typeof payload.exp !== 'number' || !Number.isFinite(payload.exp))
    fail('malformed', 'jkt-jwt exp is missing');
  if (payload.jti !== undefined && typeof payload.jti !== 'string')
    fail('malformed', 'jkt-jwt jti is not a string');
  // Cheap time checks before any key work (Signature-Key §3.8's ordering applies equally here).
  const now = options.clock.now() / 1000;
  const { iat, exp } = payload;
  if (now >= exp) fail('expired', 'jkt-jwt has expired');
  if (iat > now + (options.skewSeconds ?? DEFAULT_SKEW_SECONDS))
    fail('not_yet_valid', 'jkt-jwt iat is in the future');
  if (exp <= iat) fail('malformed', 'jkt-jwt exp is not after iat');
  if (exp - iat > (options.maxLifetimeSeconds ?? DEFAULT_MAX_LIFETIME_SECONDS)) {
    fail('lifetime', 'jkt-jwt lifetime exceeds policy');
  }
  // 4. The durable key, under Algorithm Determination (§3.3).
  const durableKey = importHeaderJwk(header.jwk);
  if (durableKey.alg !== alg)
    fail('alg', `jkt-jwt alg ${alg} disagrees with the header jwk alg ${durableKey.alg}`);
  // 5-7. iss is recomputed from the key we hold, never parsed.
  if (payload.iss !== jktUri(durableKey.jwk, hash))
    fail('issuer', 'jkt-jwt iss is not the thumbprint of the header jwk');
  // 8. Signature with the header jwk.
  if (!verifyBytes(durableKey, Buffer.from(decoded.signingInput, 'utf8'), decoded.signature)) {
    fail('signature', 'the jkt-jwt signature does not verify');
  }
  // 10. The delegated key.
  const ephemeralKey = importConfirmationKey(payload.cnf);
  return Object.freeze({
    raw: jwt,
    header,
    claims: payload as unknown as JktJwtClaims,
    durableKey,
    ephemeralKey,
  });
}
