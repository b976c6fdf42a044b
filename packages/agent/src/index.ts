// The public surface of @aauth-ref/agent.
export {
  Agent,
  type AgentIdentity,
  type AgentOptions,
  type AgentRequestInit,
  createAgent,
  createAgentFetch,
  type EnrollOptions,
  type HeldToken,
} from './agent.js';
export {
  type AuthTokenExpectation,
  type ChallengeContext,
  verifyAuthTokenResponse,
  verifyResourceChallenge,
} from './challenge.js';
export {
  type ClarificationAnswer,
  type ClarificationPrompt,
  DEFAULT_POLL_SECONDS,
  type DeferredHandlers,
  type DeferredOptions,
  followDeferred,
  type InteractionPrompt,
  SLOW_DOWN_STEP_SECONDS,
} from './deferred.js';
export {
  AgentError,
  errorFromResponse,
  InvalidAuthToken,
  NotEnrolled,
  type ProblemBody,
  RemoteError,
  RequestCancelled,
  UnsupportedRequirement,
} from './errors.js';
export { createFileStore, defaultStateDirectory } from './file-store.js';
export { type AgentEvent, type FetchLike, realSleep, type Sleep } from './runtime.js';
export {
  type AgentStore,
  type AgentStoreData,
  type AgentStoreEntry,
  type CachedToken,
  createMemoryStore,
  STORE_ENTRIES,
  type StoredAgentToken,
  type StoredEnrollment,
} from './store.js';
