export { assertAudience } from './audience.js';
export { DEFAULT_BODY_LIMIT, parseJsonBody, registerBodyParsers } from './body-parser.js';
export {
  classifyError,
  PROBLEM_CONTENT_TYPE,
  registerErrorHandlers,
  renderError,
  SERVER_ERROR_DETAIL,
} from './error-handler.js';
export type { LoggerOptionsExtra } from './logger.js';
export { createLoggerOptions, REDACTED_PATHS } from './logger.js';
export { aauthPlugin } from './plugin.js';
export type { MemoryReplayCacheOptions, ReplayKeyInput } from './replay-cache.js';
export { computeReplayKey, createMemoryReplayCache } from './replay-cache.js';
export type { PendingBody, PendingReplyOptions, RequirementReplyOptions } from './reply.js';
export { replyPending, replyRequirement } from './reply.js';
export type { HealthOptions } from './routes/health.js';
export { registerHealthRoutes } from './routes/health.js';
export type { MetadataSource } from './routes/well-known.js';
export { registerJwksRoute, registerMetadataRoute } from './routes/well-known.js';
export type {
  AAuthPluginOptions,
  AAuthRequestContext,
  AAuthRole,
  AAuthServerInfo,
  ReplayCache,
  RevocationChecker,
  RouteAAuthConfig,
} from './types.js';
