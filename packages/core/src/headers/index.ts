export {
  formatAuthorizationAAuth,
  generateSessionToken,
  isToken68,
  parseAAuthAccess,
  parseAuthorizationAAuth,
  serializeAAuthAccess,
} from './aauth-access.js';
export {
  type HeaderFieldValue,
  parseAcceptSignatureAlg,
  parseAcceptSignatureScheme,
  serializeAcceptSignatureAlg,
  serializeAcceptSignatureScheme,
} from './accept-signature.js';
export {
  CAPABILITY_VALUES,
  type Capability,
  isCapability,
  parseAAuthCapabilities,
  serializeAAuthCapabilities,
} from './capabilities.js';
export { parsePreferWait, serializePreferWait } from './prefer.js';
export {
  type AAuthRequirement,
  parseAAuthRequirement,
  REQUIREMENT_VALUES,
  type RequirementValue,
  serializeAAuthRequirement,
} from './requirement.js';
export { parseRetryAfter, serializeRetryAfter } from './retry-after.js';
export {
  parseSignatureError,
  type SignatureErrorField,
  serializeSignatureError,
  signatureErrorHeaders,
} from './signature-error.js';
export { parseSignatureKey, serializeSignatureKey } from './signature-key.js';
