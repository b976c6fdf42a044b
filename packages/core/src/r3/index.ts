export { r3TokenClaimsProblem } from './claims.js';
export {
  checkR3Document,
  computeR3S256,
  encodeR3Document,
  isR3DigestParameter,
  isR3Proposal,
  isR3S256,
  type ParseR3DocumentOptions,
  type ParseR3OperationsOptions,
  parseR3Document,
  parseR3Operations,
  sameS256,
  type VerifiedR3Document,
  verifyR3Document,
} from './document.js';
export { R3Error, type R3FailureReason } from './errors.js';
export {
  decideR3Enforcement,
  findUnknownR3Operations,
  type R3EnforcementDecision,
  r3OperationsInclude,
  unionR3Operations,
} from './operations.js';
export {
  findR3ParameterMismatch,
  jsonEqual,
  type R3ParameterMismatch,
  r3ParametersMatch,
} from './parameters.js';
export type {
  R3AuthTokenClaims,
  R3DigestParameter,
  R3Display,
  R3Document,
  R3McpOperation,
  R3OpenApiOperation,
  R3Operation,
  R3Operations,
  R3ResourceTokenClaims,
} from './types.js';
export {
  ACCESS_MODE_PER_CALL,
  canonicalJson,
  isStandardR3Vocabulary,
  mcpOperation,
  openApiOperation,
  R3_ANNOTATION,
  R3_VOCABULARY,
  R3_VOCABULARY_MCP,
  R3_VOCABULARY_OPENAPI,
  r3OperationKey,
  r3OperationProblem,
} from './vocabulary.js';
