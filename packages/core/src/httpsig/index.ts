// The HTTP Message Signatures profile (§HTTP Message Signatures Profile): sign and verify requests.
export { type SignatureHeaders, signRequest } from './sign.js';
export {
  type HwkSigner,
  type JktJwtSigner,
  type JwksUriSigner,
  type JwtSigner,
  REGISTERED_SCHEMES,
  type RegisteredScheme,
  type RouteSignaturePolicy,
  type SignatureKeyMember,
  type SignedRequestInput,
  type Signer,
  type SignRequestOptions,
  type VerifiableScheme,
  type VerifiedRequestSignature,
  type VerifierDeps,
} from './types.js';
export { verifyRequestSignature } from './verify.js';
