export {
  ACCEPTED_DWK,
  type AgentTokenClaims,
  type AuthTokenClaims,
  type ClaimsByKind,
  type Confirmation,
  DWK,
  type Dwk,
  type JktJwtClaims,
  type JwtHeader,
  MAX_LIFETIME_SECONDS,
  OPTIONAL_STRING_CLAIMS,
  type PersonTokenClaims,
  REQUIRED_STRING_CLAIMS,
  type ResourceInteraction,
  type ResourceTokenClaims,
  TOKEN_TYP,
  type TokenKind,
  type TokenTyp,
} from './claims.js';
export { completeTokenClaims, issueToken } from './issue.js';
export {
  type IssueJktJwtOptions,
  issueJktJwt,
  JKT_JWT_TYP,
  type JktHash,
  jktUri,
  type VerifyJktJwtOptions,
  verifyJktJwt,
} from './jkt-jwt.js';
export { decodeJwtUnverified, MAX_JWT_LENGTH } from './jwt-codec.js';
export { assertResourceTokenLifetime, DEFAULT_RESOURCE_TOKEN_MAX_LIFETIME_SECONDS } from './lifetime.js';
export {
  type BodyTokenKind,
  type TokenFailureReason,
  TokenVerificationError,
  tokenFailureToBodyError,
  tokenFailureToSignatureError,
} from './token-error.js';
export type {
  IssuableClaims,
  IssueTokenOptions,
  TokenSigner,
  TokenVerifier,
  TokenVerifierDeps,
  VerifiedJktJwt,
  VerifiedToken,
  VerifyTokenOptions,
} from './types.js';
export { createTokenVerifier, tokenKindOfTyp } from './verify.js';
