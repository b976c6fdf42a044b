import {
  type AAuthError,
  ExpiredAgentToken,
  ExpiredJwt,
  ExpiredResourceToken,
  InvalidAgentToken,
  InvalidJwt,
  InvalidKey,
  InvalidPersonToken,
  InvalidResourceToken,
  IssuerMismatch,
  IssuerMissing,
  type SignatureError,
  UnknownKey,
  UnsupportedAlgorithm,
} from '../errors.js';
import { SUPPORTED_ALGS } from '../jwk.js';

/**
 * Why a JWT failed verification, independent of where it was presented. The caller maps it to the
 * wire error of its context (CONVENTIONS.md: an expired JWT is `expired_agent_token` in a body but
 * `expired_jwt` in `Signature-Key`).
 */
export type TokenFailureReason =
  | 'malformed' // not a compact JWS / not JSON / required claim missing or of the wrong type
  | 'typ' // header typ not accepted here
  | 'dwk' // dwk claim not accepted for this typ
  | 'alg' // header alg not fully specified / prohibited / disagrees with the key
  | 'expired' // exp in the past
  | 'not_yet_valid' // iat in the future (beyond skew)
  | 'lifetime' // exp - iat beyond the MUST cap for this type
  | 'issuer' // iss breaks the server identifier rules
  | 'issuer_missing' // metadata without issuer
  | 'issuer_mismatch' // metadata issuer differs from iss
  | 'unknown_key' // kid not in the issuer's JWKS (after a refresh)
  | 'key' // the issuer key or cnf.jwk is unusable (bad JWK, alg disagreement)
  | 'unsupported_key' // cnf.jwk/issuer key type or alg we do not implement
  | 'signature' // JWT signature does not verify
  | 'audience' // aud is not this recipient
  | 'discovery'; // metadata/JWKS could not be fetched (egress refused, network, size, time)

export class TokenVerificationError extends Error {
  readonly reason: TokenFailureReason;
  constructor(reason: TokenFailureReason, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TokenVerificationError';
    this.reason = reason;
  }
}

/** A token that came in `Signature-Key` (§Verification step 5). */
export function tokenFailureToSignatureError(err: TokenVerificationError): SignatureError {
  const opts = { cause: err };
  switch (err.reason) {
    case 'expired':
      return new ExpiredJwt('The JWT in Signature-Key has expired.', opts);
    case 'issuer_missing':
      return new IssuerMissing('The issuer metadata has no issuer member.', opts);
    case 'issuer_mismatch':
      return new IssuerMismatch('The issuer metadata names a different issuer.', opts);
    case 'unknown_key':
      return new UnknownKey('No key with this kid at the issuer JWKS.', opts);
    case 'key':
      return new InvalidKey('The key could not be used.', opts);
    case 'unsupported_key':
      // `unsupported_algorithm` names what would succeed (§Authentication Errors).
      return new UnsupportedAlgorithm('The key type or algorithm is not supported.', {
        ...opts,
        acceptAlgs: SUPPORTED_ALGS,
      });
    default:
      return new InvalidJwt(err.message, opts);
  }
}

export type BodyTokenKind = 'agent' | 'resource' | 'person';

/** A token that came in a request body (§Token Endpoint Error Codes): 400 with the table code. */
export function tokenFailureToBodyError(err: TokenVerificationError, kind: BodyTokenKind): AAuthError {
  const opts = { cause: err };
  const expired = err.reason === 'expired';
  switch (kind) {
    case 'agent':
      return expired
        ? new ExpiredAgentToken('The agent token has expired.', opts)
        : new InvalidAgentToken(err.message, opts);
    case 'resource':
      return expired
        ? new ExpiredResourceToken(
            'The resource token expired; obtain a new resource token from the resource and retry.',
            opts,
          )
        : new InvalidResourceToken(err.message, opts);
    case 'person':
      return new InvalidPersonToken(err.message, opts);
  }
}
