export type { FakeClock } from './fake-clock.js';
export { createFakeClock, DEFAULT_FAKE_NOW_MS } from './fake-clock.js';
export type {
  MetadataFactory,
  MintAgentTokenOptions,
  TestAgentProvider,
  TestIssuerServer,
  TestIssuerServerOptions,
} from './issuer-server.js';
export { startTestAgentProvider, startTestIssuerServer } from './issuer-server.js';
export type { QueryLog, RecordQueriesOptions } from './query-log.js';
export { recordQueries, TRANSACTION_MARKERS } from './query-log.js';
export type { StubR3Resource } from './r3-resource.js';
export { createStubR3Resource } from './r3-resource.js';
export { makeRawJwt } from './raw-jwt.js';
export type {
  BuiltSignedRequest,
  SignedFetchOptions,
  SignedRequestOptions,
  TestBody,
} from './signed-request.js';
export { buildSignedRequest, injectBuilt, signedFetch, signedInject } from './signed-request.js';
export type { IssueOptions, TestIssuer, TestIssuerOptions } from './test-issuer.js';
export { createTestIssuer, makeKeyPair } from './test-issuer.js';
export type {
  AgentTokenOptions,
  AuthTokenOptions,
  MadeBoundToken,
  MadeToken,
  PersonTokenOptions,
  ResourceTokenOptions,
} from './tokens.js';
export {
  makeAgentId,
  makeAgentToken,
  makeAuthToken,
  makePersonToken,
  makeResourceToken,
} from './tokens.js';
