import { fileURLToPath } from 'node:url';
import {
  admitUrl,
  type Clock,
  createGuardedFetch,
  createGuardedPost,
  createOutboundSigner,
  createR3DocumentFetcher,
  DWK,
  type GuardedFetch,
  type HostResolver,
  type IssuerKeyResolver,
  type OutboundFetch,
  R3_DOCUMENT_MAX_BYTES,
  systemClock,
} from '@aauth-ref/core';
import { createDatabaseReplayCache, createReadinessCheck, type Database } from '@aauth-ref/db';
import {
  createAAuthServer,
  createLoginThrottle,
  createMemoryRateLimiter,
  createPageSessions,
  createRetentionSweeper,
  createSessionStore,
  type KeyRing,
  type LoggerOptionsExtra,
  type RetentionTimers,
  registerJwksRoute,
  registerMetadataRoute,
  registerRetentionSweeper,
  registerWebKit,
} from '@aauth-ref/fastify';
import type { FastifyInstance } from 'fastify';
import type { PersonServerConfig } from './config.js';
import {
  AP_JWKS_PATH,
  buildAgentProviderMetadata,
  buildPersonServerMetadata,
  PS_JWKS_PATH,
} from './metadata.js';
import { registerAgentEnrollRoutes } from './routes/agent-enroll.js';
import { registerAgentTokenRoute } from './routes/agent-token.js';
import { registerAuditRoute } from './routes/audit.js';
import { registerAuthTokenRoute } from './routes/auth-token.js';
import type { AppContext } from './routes/context.js';
import { registerDashboardRoute } from './routes/dashboard.js';
import { registerGovernancePageRoutes } from './routes/governance-pages.js';
import { registerInteractionRoutes } from './routes/interaction.js';
import { registerInteractionEndpointRoutes } from './routes/interaction-endpoint.js';
import { registerMissionRoutes } from './routes/mission.js';
import { registerMissionPageRoutes } from './routes/missions-pages.js';
import { registerPendingRoutes } from './routes/pending.js';
import { registerPermissionRoute } from './routes/permission.js';
import { registerPersonTokenRoute } from './routes/person-token.js';
import { registerRevokeRoute } from './routes/revoke.js';
import { registerSignInRoutes } from './routes/signin.js';
import { registerSubagentTokenRoute } from './routes/subagent-token.js';
import { createAuditService } from './services/audit-service.js';
import { createAuthTokenService } from './services/auth-token-service.js';
import { createClarificationService } from './services/clarification-service.js';
import { createEnrollmentService } from './services/enrollment-service.js';
import { createFederationClient } from './services/federation-client.js';
import { createFederationRelay } from './services/federation-relay.js';
import { createGovernance } from './services/governance.js';
import { createInteractionRelayService } from './services/interaction-relay-service.js';
import {
  createMissionFailureThrottle,
  MISSION_FAILURE_LIMIT,
  MISSION_FAILURE_WINDOW_SECONDS,
} from './services/mission-failure-throttle.js';
import { createMissionService } from './services/mission-service.js';
import { createPendingService } from './services/pending-service.js';
import { createPermissionService } from './services/permission-service.js';
import { createPersonTokenService } from './services/person-token-service.js';
import { createResourceInteractionService } from './services/resource-interaction.js';
import { createRevocationService } from './services/revocation-service.js';
import { createPrismaClient, type PrismaClient } from './stores/prisma.js';
import { createPrismaBindingStore } from './stores/prisma-bindings.js';
import { createPrismaEnrollmentStore } from './stores/prisma-enrollments.js';
import { createPrismaBillingCache, createPrismaFederatedRequestStore } from './stores/prisma-federation.js';
import { createPrismaGovernanceStore } from './stores/prisma-governance.js';
import { createPrismaMissionStore } from './stores/prisma-missions.js';
import { createPrismaPendingStore } from './stores/prisma-pending-store.js';
import { createPrismaPersonTokenFactsLookup } from './stores/prisma-person-token-facts.js';
import { createPrismaPersonStore } from './stores/prisma-persons.js';
import { createPrismaRateLimiter } from './stores/prisma-rate-limiter.js';
import {
  createPrismaRevocationChecker,
  createPrismaRevocationStore,
  createSeenAgentTokenRecorder,
} from './stores/prisma-revocations.js';
import { createPrismaSessionBackend } from './stores/prisma-session-backend.js';
import {
  createPrismaDirectedSubjectStore,
  createPrismaIssuedAuthTokenStore,
  createPrismaPersonTokenRecordStore,
  createPrismaResourceConsentStore,
  createPrismaScopeConsentStore,
  createPrismaSecurityEventLog,
} from './stores/prisma-token-stores.js';
import { createPersonServerRetentionTasks } from './stores/retention.js';

/** The committed Prisma migrations (also in the built image: `dist/` sits next to `prisma/`). */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../prisma/migrations', import.meta.url));

export interface AppDeps {
  /** The open database; `buildApp` closes it with the app unless `keepDatabaseOpen`. */
  readonly database: Database;
  readonly prisma?: PrismaClient;
  readonly clock?: Clock;
  /** The PS's signing keys (`SIGNING_KEYS`). */
  readonly psKeys: KeyRing;
  /** The Agent Provider's signing keys (`AGENT_SIGNING_KEYS`); never the PS's. */
  readonly apKeys: KeyRing;
  /** Key discovery for other issuers (default: HTTP through the egress policy). Tests inject one. */
  readonly remoteKeys?: IssuerKeyResolver;
  readonly migrationsDir?: string;
  readonly logger?: boolean | LoggerOptionsExtra;
  /** Long-poll sleep (tests shorten it). */
  readonly pendingSleep?: (ms: number) => Promise<void>;
  readonly keepDatabaseOpen?: boolean;
  /** DNS for egress admission of resource interaction URLs (default: the system resolver). */
  readonly egressResolver?: HostResolver;
  /** The PS's own outbound requests (revocation notices); default: a POST through the egress policy. */
  readonly outboundFetch?: OutboundFetch;
  /** PS → AS requests (§Access Server Federation); default: core's guarded fetch under the egress policy. */
  readonly federationFetch?: GuardedFetch;
  /** R3 document fetches (signed `GET r3_uri`); default: core's guarded fetch under the egress policy. */
  readonly r3Fetch?: GuardedFetch;
  /** The retention sweeper's timers (default: unref'd `setTimeout`). Tests fire them by hand. */
  readonly retentionTimers?: RetentionTimers;
}

/** Builds the Person Server (and its Agent Provider role). Never listens: `main.ts` does. */
export async function buildApp(config: PersonServerConfig, deps: AppDeps): Promise<FastifyInstance> {
  const issuer = config.ISSUER;
  const clock = deps.clock ?? systemClock;
  const prisma = deps.prisma ?? createPrismaClient(deps.database);
  const migrationsDir = deps.migrationsDir ?? MIGRATIONS_DIR;
  const psMetadata = buildPersonServerMetadata(issuer);
  const apMetadata = buildAgentProviderMetadata(issuer);

  const { app, keys, tokens } = await createAAuthServer({
    config,
    role: 'person-server',
    clock,
    localIssuers: [
      { issuer, dwk: DWK.person, keys: deps.psKeys.published, metadata: psMetadata },
      { issuer, dwk: DWK.agent, keys: deps.apKeys.published, metadata: apMetadata },
    ],
    ...(deps.remoteKeys ? { remoteKeys: deps.remoteKeys } : {}),
    ...(deps.logger === undefined ? {} : { logger: deps.logger }),
    replayCache: createDatabaseReplayCache(deps.database, clock),
    revocations: createPrismaRevocationChecker(prisma),
    ready: createReadinessCheck(deps.database, migrationsDir),
  });
  registerWebKit(app);
  // Agent tokens of other Agent Providers are remembered so their AP's revocation can cascade.
  const rememberAgentToken = createSeenAgentTokenRecorder(prisma, clock);
  app.addHook('preHandler', async (request) => {
    const aauth = request.aauth;
    if (aauth?.tokenKind === 'agent' && aauth.claims && aauth.claims.iss !== issuer) {
      const { iss, jti, sub, exp } = aauth.claims as { iss: string; jti: string; sub: string; exp: number };
      await rememberAgentToken({ iss, jti, sub, exp });
    }
  });

  const persons = createPrismaPersonStore(prisma);
  const bindings = createPrismaBindingStore(prisma);
  const enrollmentStore = createPrismaEnrollmentStore(prisma);
  const pending = createPendingService({
    store: createPrismaPendingStore(prisma),
    clock,
    interactionUrl: `${issuer}/interaction`,
    ttlSeconds: config.PENDING_TTL_SECONDS,
    ...(deps.pendingSleep ? { sleep: deps.pendingSleep } : {}),
  });
  const enrollments = createEnrollmentService({
    issuer,
    clock,
    identifierPolicy: config.identifierPolicy,
    store: enrollmentStore,
    pending,
    signer: () => deps.apKeys.active,
    agentTokenTtlSeconds: config.AGENT_TOKEN_TTL_SECONDS,
  });
  const missionStore = createPrismaMissionStore(prisma, () => new Date(clock.now()));
  const tokenDeps = {
    clock,
    issuer,
    signer: deps.psKeys.active,
    verifier: tokens,
    identifierPolicy: config.identifierPolicy,
    resourceTokenMaxLifetimeSeconds: config.RESOURCE_TOKEN_MAX_LIFETIME_SECONDS,
    bindings,
    persons,
    missions: missionStore,
    missionLog: missionStore,
    personTokens: createPrismaPersonTokenRecordStore(prisma),
    issuedAuthTokens: createPrismaIssuedAuthTokenStore(prisma),
    directedSubjects: createPrismaDirectedSubjectStore(prisma),
  };
  const personTokens = createPersonTokenService({
    ...tokenDeps,
    resourceConsents: createPrismaResourceConsentStore(prisma),
    personTokenFacts: createPrismaPersonTokenFactsLookup(prisma),
  });
  const securityEvents = createPrismaSecurityEventLog(prisma, clock);
  const federation = createFederationClient({
    clock,
    issuer,
    identifierPolicy: config.identifierPolicy,
    keys,
    verifier: tokens,
    key: () => deps.psKeys.active,
    fetch:
      deps.federationFetch ??
      createGuardedFetch({
        policy: config.egressPolicy,
        ...(deps.egressResolver ? { resolve: deps.egressResolver } : {}),
        timeoutMs: 5_000,
        maxBytes: 64 * 1024,
      }),
    persons,
    securityEvents,
    billing: createPrismaBillingCache(prisma),
  });
  const federationRelay = createFederationRelay({
    clock,
    pending,
    store: createPrismaFederatedRequestStore(prisma),
    client: federation,
    issuedAuthTokens: tokenDeps.issuedAuthTokens,
    missionLog: missionStore,
    interactionUrl: `${issuer}/interaction`,
  });
  // R3 §R3 Processing: the PS fetches `r3_uri` signed as itself, verifies `r3_s256`, caches by hash.
  const r3Documents = createR3DocumentFetcher({
    issuer,
    dwk: DWK.person,
    key: () => deps.psKeys.active,
    clock,
    identifierPolicy: config.identifierPolicy,
    fetch:
      deps.r3Fetch ??
      createGuardedFetch({
        policy: config.egressPolicy,
        ...(deps.egressResolver ? { resolve: deps.egressResolver } : {}),
        timeoutMs: 5_000,
        maxBytes: R3_DOCUMENT_MAX_BYTES,
      }),
  });
  const authTokens = createAuthTokenService({
    ...tokenDeps,
    scopeConsents: createPrismaScopeConsentStore(prisma),
    securityEvents,
    federation,
    federationRelay,
    r3Documents,
  });
  const sessions = createPageSessions({
    store: createSessionStore(createPrismaSessionBackend(prisma), { clock }),
    cookiePrefix: 'ps',
    issuer,
    secureCookies: !config.AAUTH_DEV,
    siteName: psMetadata.name,
    clock,
  });
  const revocationLog = app.log.child({ component: 'revocation' });
  const revocations = createRevocationService({
    issuer,
    clock,
    identifierPolicy: config.identifierPolicy,
    trustedIssuers: config.REVOCATION_TRUSTED_ISSUERS,
    store: createPrismaRevocationStore(prisma, issuer),
    resourceMetadata: (resource) => keys.metadata(resource, DWK.resource),
    signer: createOutboundSigner({ issuer, dwk: DWK.person, key: () => deps.psKeys.active, clock }),
    fetch: deps.outboundFetch ?? createGuardedPost({ policy: config.egressPolicy }),
    log: {
      info: (event, fields) => revocationLog.info({ event, ...fields }, event),
      warn: (event, fields) => revocationLog.warn({ event, ...fields }, event),
    },
  });
  const missions = createMissionService({
    clock,
    issuer,
    identifierPolicy: config.identifierPolicy,
    store: missionStore,
    bindings,
    personTokens,
    revokeMissionTokens: async (personId, s256) => {
      await revocations.revokeMissionTokens(personId, s256);
    },
  });
  const clarifications = createClarificationService({
    clock,
    pending,
    resourceTokens: {
      issuer,
      verifier: tokens,
      resourceTokenMaxLifetimeSeconds: config.RESOURCE_TOKEN_MAX_LIFETIME_SECONDS,
      personTokens: tokenDeps.personTokens,
      securityEvents: createPrismaSecurityEventLog(prisma, clock),
    },
    acceptWithoutAction: config.ACCEPT_CLARIFICATION_WITHOUT_ACTION,
  });
  const resourceInteractions = createResourceInteractionService({
    issuer,
    clock,
    identifierPolicy: config.identifierPolicy,
    pending,
    admitUrl: async (url) => {
      await admitUrl(url, {
        policy: config.egressPolicy,
        ...(deps.egressResolver ? { resolve: deps.egressResolver } : {}),
      });
    },
  });
  // §PS Governance Endpoints: permission, audit and interaction share the mission check and the log.
  const governance = createGovernance({
    clock,
    store: createPrismaGovernanceStore(prisma),
    pending,
    missions: missionStore,
    bindings,
  });
  const permissions = createPermissionService(governance, missionStore);
  const audits = createAuditService(governance);
  const relays = createInteractionRelayService(governance, {
    devMode: config.AAUTH_DEV,
    interactionUrl: `${issuer}/interaction`,
  });
  const context: AppContext = {
    config,
    issuer,
    clock,
    prisma,
    keys,
    persons,
    bindings,
    enrollmentStore,
    pending,
    enrollments,
    personTokens,
    authTokens,
    clarifications,
    resourceInteractions,
    revocations,
    missions,
    missionStore,
    sessions,
    siteName: psMetadata.name ?? 'Person Server',
    loginThrottle: createLoginThrottle({
      perUsername: createMemoryRateLimiter({ limit: 5, windowSeconds: 15 * 60, clock }),
      perAddress: createMemoryRateLimiter({ limit: 50, windowSeconds: 15 * 60, clock }),
    }),
    codeAttempts: {
      perPerson: createMemoryRateLimiter({ limit: 5, windowSeconds: 15 * 60, clock }),
      perAddress: createMemoryRateLimiter({ limit: 30, windowSeconds: 15 * 60, clock }),
    },
  };

  registerMetadataRoute(app, DWK.person, psMetadata);
  registerMetadataRoute(app, DWK.agent, apMetadata);
  registerJwksRoute(app, PS_JWKS_PATH, () => deps.psKeys.published);
  registerJwksRoute(app, AP_JWKS_PATH, () => deps.apKeys.published);
  registerSignInRoutes(app, context);
  registerDashboardRoute(app, context);
  registerInteractionRoutes(app, context);
  registerPendingRoutes(app, context);
  registerMissionRoutes(app, context, {
    failures: createMissionFailureThrottle({
      limiter: createPrismaRateLimiter(prisma, {
        scope: 'mission_failure',
        limit: MISSION_FAILURE_LIMIT,
        windowSeconds: MISSION_FAILURE_WINDOW_SECONDS,
        clock,
      }),
      securityEvents,
    }),
  });
  registerMissionPageRoutes(app, context);
  registerAgentEnrollRoutes(app, context);
  registerAgentTokenRoute(app, context);
  registerSubagentTokenRoute(app, context);
  registerPersonTokenRoute(app, context);
  registerAuthTokenRoute(app, context);
  registerRevokeRoute(app, context);
  registerPermissionRoute(app, permissions);
  registerAuditRoute(app, audits);
  registerInteractionEndpointRoutes(app, relays, pending);
  registerGovernancePageRoutes(app, context, { permissions, relays });

  // Rows past retention (docs/reliability.md, *Retention*); stopped on close before the database.
  registerRetentionSweeper(
    app,
    createRetentionSweeper({
      tasks: createPersonServerRetentionTasks(deps.database, {
        pendingRetentionSeconds: config.PENDING_RETENTION_SECONDS,
        tokenRecordRetentionSeconds: config.TOKEN_RECORD_RETENTION_SECONDS,
        resourceTokenMaxLifetimeSeconds: config.RESOURCE_TOKEN_MAX_LIFETIME_SECONDS,
        auditRetentionSeconds: config.AUDIT_RETENTION_SECONDS,
      }),
      clock,
      logger: app.log,
      intervalMs: config.RETENTION_INTERVAL_SECONDS * 1000,
      ...(deps.retentionTimers === undefined ? {} : { timers: deps.retentionTimers }),
    }),
  );

  app.addHook('onClose', async () => {
    if (!deps.prisma) await prisma.$disconnect();
    if (!deps.keepDatabaseOpen) await deps.database.close();
  });
  return app;
}
