// The public surface of @aauth-ref/agent.
export {
  Agent,
  type AgentIdentity,
  type AgentOptions,
  type AgentRequestInit,
  type CredentialPlan,
  createAgent,
  createAgentFetch,
  type EnrollOptions,
  type HeldToken,
  type MissionCompletion,
  type PreparedCredential,
  type SubAgent,
  type SubAgentIdentity,
} from './agent.js';
export {
  ChainingClient,
  type ChainingClientOptions,
  type ChainingIdentity,
  type ChainTokenRequest,
  MAX_TOKEN_ANSWER_BYTES,
  MalformedAnswer,
  type ResourceStep,
  type TokenStep,
} from './chaining-client.js';
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
  InvalidMissionApproval,
  NotEnrolled,
  type ProblemBody,
  RemoteError,
  RequestCancelled,
  SubAgentRefused,
  UnsupportedRequirement,
} from './errors.js';
export { createFileStore, defaultStateDirectory } from './file-store.js';
export {
  AAuthMcpFetch,
  type AAuthMcpFetchOptions,
  AAuthMcpTransport,
  type AAuthMcpTransportOptions,
  type ConnectedMcpClient,
  connectMcpClient,
  MCP_CLIENT_INFO,
} from './mcp/index.js';
export {
  type ApprovalExpectation,
  type MissionProposal,
  terminationOf,
  verifyApproval,
} from './mission.js';
export {
  type AccessMode,
  classifyAuthToken,
  effectiveAccessMode,
  type GrantKind,
  isPerCallGrant,
  MCP_ACCESS_MODE_META,
  MCP_BUDGET_META,
  MCP_VOCABULARY,
  mcpToolAccessMode,
  OPENAPI_VOCABULARY,
  type R3Invocation,
  type R3Operation,
  type R3Operations,
  r3ClaimLists,
} from './r3.js';
export { type AgentEvent, type FetchLike, realSleep, type Sleep } from './runtime.js';
export {
  type AgentStore,
  type AgentStoreData,
  type AgentStoreEntry,
  type CachedToken,
  createMemoryStore,
  type Mission,
  type MissionTool,
  type MissionUpdateRecord,
  STORE_ENTRIES,
  type StoredAgentToken,
  type StoredEnrollment,
  type StoredMissions,
  type StoredSubAgent,
} from './store.js';
