export { assertAudience } from './audience.js';
export { DEFAULT_BODY_LIMIT, parseJsonBody, registerBodyParsers } from './body-parser.js';
export { isDatabaseUnavailable } from './database-unavailable.js';
export {
  classifyError,
  PROBLEM_CONTENT_TYPE,
  registerErrorHandlers,
  renderError,
  SERVER_ERROR_DETAIL,
} from './error-handler.js';
export type { LoggerOptionsExtra } from './logger.js';
export { createLoggerOptions, REDACTED_PATHS } from './logger.js';
// Pending URLs (§Deferred Responses): the rules every server's pending requests follow.
export type {
  CodeLookup,
  EndStatusOf,
  PendingCore,
  PendingCoreStore,
  PendingEndStatus,
  PendingEngine,
  PendingEngineOptions,
  PendingTimes,
} from './pending/engine.js';
export {
  createPendingEngine,
  displayInteractionCode,
  enforcePollPace,
  generatePendingId,
  isOpenStatus,
  isPendingId,
  minPollIntervalMs,
  PENDING_GONE_DETAIL,
  PENDING_ID,
} from './pending/engine.js';
export type {
  CodeAttemptGuard,
  CodeEntry,
  CodeEntryFormOptions,
  InteractionCodeEntry,
  InteractionCodeSource,
  InteractionNotice,
} from './pending/interaction-code.js';
export {
  codeEntryForm,
  createCodeAttemptGuard,
  createInteractionCodeEntry,
  INTERACTION_NOTICES,
  readInteractionQuery,
} from './pending/interaction-code.js';
export type { PendingRowDelegate } from './pending/prisma-rows.js';
export { createPendingRowStore } from './pending/prisma-rows.js';
export type { OpenPollReply } from './pending/reply.js';
export {
  pendingLocation,
  redirectToCallback,
  replyDeferredResult,
  replyOpenPoll,
} from './pending/reply.js';
export { aauthPlugin } from './plugin.js';
export type { MemoryReplayCacheOptions, ReplayKeyInput } from './replay-cache.js';
export { computeReplayKey, createMemoryReplayCache } from './replay-cache.js';
export type { PendingBody, PendingReplyOptions, RequirementReplyOptions } from './reply.js';
export { replyPending, replyRequirement } from './reply.js';
export type {
  AuditTable,
  ExpiryRetentionSpec,
  RetentionLogger,
  RetentionSql,
  RetentionSweeper,
  RetentionSweeperOptions,
  RetentionSweepReport,
  RetentionTask,
  RetentionTimers,
  SqlRetentionTaskSpec,
} from './retention.js';
export {
  auditRetentionEnvSpec,
  createAuditRetentionTasks,
  createCommonRetentionTasks,
  createExpiryRetentionTask,
  createIssuedAuthTokenRetentionTask,
  createPendingRetentionTask,
  createRetentionSweeper,
  createSqlRetentionTask,
  cutoffBefore,
  DEFAULT_AUDIT_RETENTION_SECONDS,
  DEFAULT_RETENTION_INTERVAL_MS,
  REVOCATION_SKEW_SECONDS,
  registerRetentionSweeper,
  retentionEnvSpec,
} from './retention.js';
export type { HealthOptions } from './routes/health.js';
export { registerHealthRoutes } from './routes/health.js';
export type { MetadataSource } from './routes/well-known.js';
export { registerJwksRoute, registerMetadataRoute } from './routes/well-known.js';
// Server kit: configuration, signing keys, process lifecycle.
export type {
  CommonConfig,
  CommonConfigOptions,
  CommonEnvSpec,
  EnvContext,
  EnvSpec,
  EnvValues,
  EnvVar,
  LogLevel,
  ModeSettings,
  ParseConfigOptions,
  ServerConfig,
  TrustProxy,
} from './server/config.js';
export {
  ConfigError,
  commonEnvSpec,
  defineEnvVar,
  fastifyTrustProxy,
  formatEnvReference,
  isConfigError,
  isHelpRequested,
  parseCommonConfig,
  readEnv,
} from './server/config.js';
export { type AAuthServer, type AAuthServerOptions, createAAuthServer } from './server/foundation.js';
export type {
  GenerateSigningKeysOptions,
  KeyRing,
  LoadKeyRingOptions,
  SigningKeyJwk,
  SigningKeyStatus,
} from './server/keys.js';
export {
  createKeyRing,
  DEV_KEYS_FILE,
  generateSigningKeysJwks,
  loadKeyRing,
  SIGNING_KEY_STATUSES,
} from './server/keys.js';
export type { RunningServer, RunServerConfig, RunServerOptions } from './server/lifecycle.js';
export { DEFAULT_GRACE_MS, DEV_MODE_WARNING, reportStartupFailure, runServer } from './server/lifecycle.js';
export type {
  AAuthPluginOptions,
  AAuthRequestContext,
  AAuthRole,
  AAuthServerInfo,
  ReplayCache,
  RevocationChecker,
  RouteAAuthConfig,
} from './types.js';
// Web kit: person-facing pages.
export { DEFAULT_STYLESHEET_PATH, PAGE_CSS, registerPageAssets } from './web/assets.js';
export { isAgentCallback, matchesCallbackEndpoint } from './web/callback.js';
export type { CookieAttributes, CookieNames } from './web/cookies.js';
export { cookieNames, parseCookies, serializeCookie } from './web/cookies.js';
export type { FormBody } from './web/form-body.js';
export {
  FORM_BODY_LIMIT,
  formString,
  formStrings,
  parseFormBody,
  registerFormBodyParser,
} from './web/form-body.js';
export type { HtmlValue } from './web/html.js';
export { escapeHtml, html, isSafeHtml, SafeHtml, trustedHtml } from './web/html.js';
export type {
  ButtonOptions,
  ErrorPageOptions,
  PageOptions,
  PostFormOptions,
  TextFieldOptions,
} from './web/layout.js';
export {
  errorSummary,
  postForm,
  renderErrorPage,
  renderPage,
  sendPage,
  submitButton,
  textField,
} from './web/layout.js';
export type { MarkdownOptions } from './web/markdown.js';
export { isAllowedMarkdownLink, MARKDOWN_MAX_LENGTH, renderMarkdown } from './web/markdown.js';
export type { PageSessionOptions, PageSessions } from './web/page-sessions.js';
export { CSRF_FIELD, createPageSessions, DEFAULT_SESSION_TTL_SECONDS } from './web/page-sessions.js';
export type { ScryptParams } from './web/password.js';
export { DEFAULT_SCRYPT_PARAMS, hashPassword, needsRehash, verifyPassword } from './web/password.js';
export type {
  LoginAttempt,
  LoginThrottle,
  LoginThrottleOptions,
  MemoryRateLimiterOptions,
  RateLimitDecision,
  RateLimiter,
} from './web/rate-limit.js';
export { createLoginThrottle, createMemoryRateLimiter } from './web/rate-limit.js';
export { isSafeRedirect, toSafeRedirect } from './web/redirect.js';
export type { WebKitOptions } from './web/register.js';
export { registerWebKit } from './web/register.js';
export type { PageSecurityOptions } from './web/security-headers.js';
export {
  allowFormAction,
  applyPageSecurityHeaders,
  buildContentSecurityPolicy,
  registerPageSecurityHeaders,
} from './web/security-headers.js';
export type {
  Session,
  SessionBackend,
  SessionRecord,
  SessionStore,
  SessionStoreOptions,
} from './web/session-store.js';
export {
  createMemorySessionBackend,
  createMemorySessionStore,
  createSessionStore,
  generateSessionId,
  hashSessionId,
} from './web/session-store.js';
export { registerSignInRoutes, type SignInRoutesOptions } from './web/signin.js';
