import { fileURLToPath } from 'node:url';
import {
  type Clock,
  createGuardedFetch,
  createGuardedPost,
  createOutboundSigner,
  createR3DocumentFetcher,
  DWK,
  type GuardedFetch,
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
import type { AuthServerConfig } from './config.js';
import { buildAccessServerMetadata, JWKS_PATH } from './metadata.js';
import { registerAdminRoutes } from './routes/admin.js';
import { registerBillingRoutes } from './routes/billing.js';
import type { AppContext, PageContext } from './routes/context.js';
import { registerInteractionRoutes } from './routes/interaction.js';
import { registerPendingRoutes } from './routes/pending.js';
import { registerRevokeRoute } from './routes/revoke.js';
import { registerSignInRoutes } from './routes/signin.js';
import { registerTokenRoute } from './routes/token.js';
import { createAuthTokenIssuer } from './services/auth-token-issuer.js';
import { createFederationService } from './services/federation-service.js';
import { createRevocationService } from './services/revocation-service.js';
import { createTokenService } from './services/token-service.js';
import { createPrismaClient, type PrismaClient } from './stores/prisma.js';
import {
  createPrismaFederationStore,
  createPrismaPersonStore,
  createPrismaSessionBackend,
} from './stores/prisma-federation.js';
import { createPrismaIssuedAuthTokenStore } from './stores/prisma-issued-tokens.js';
import { createPrismaPendingStore } from './stores/prisma-pending-store.js';
import { createPrismaRevocationStore } from './stores/prisma-revocation-store.js';
import { createPrismaRevocationChecker } from './stores/prisma-revocations.js';
import { createPrismaTokenFactsLookup } from './stores/prisma-token-facts.js';
import { createAccessServerRetentionTasks } from './stores/retention.js';

/** The committed Prisma migrations (also in the built image: `dist/` sits next to `prisma/`). */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../prisma/migrations', import.meta.url));

export interface AppDeps {
  /** The open database; `buildApp` closes it with the app unless `keepDatabaseOpen`. */
  readonly database: Database;
  readonly prisma?: PrismaClient;
  readonly clock?: Clock;
  /** The AS's signing keys (`SIGNING_KEYS`). */
  readonly keys: KeyRing;
  /** Key discovery for other issuers (default: HTTP through the egress policy). Tests inject one. */
  readonly remoteKeys?: IssuerKeyResolver;
  /** Signed outbound POSTs (revocation notices; default: through egress admission). Tests inject one. */
  readonly outboundFetch?: OutboundFetch;
  /** R3 document fetches (signed `GET r3_uri`; default: core's guarded fetch). Tests inject a stub resource. */
  readonly r3Fetch?: GuardedFetch;
  readonly migrationsDir?: string;
  readonly logger?: boolean | LoggerOptionsExtra;
  readonly keepDatabaseOpen?: boolean;
  /** The retention sweeper's timers (default: unref'd `setTimeout`). Tests fire them by hand. */
  readonly retentionTimers?: RetentionTimers;
}

/** Builds the Access Server. Never listens: `main.ts` does. */
export async function buildApp(config: AuthServerConfig, deps: AppDeps): Promise<FastifyInstance> {
  const issuer = config.ISSUER;
  const clock = deps.clock ?? systemClock;
  const prisma = deps.prisma ?? createPrismaClient(deps.database);
  const migrationsDir = deps.migrationsDir ?? MIGRATIONS_DIR;
  const metadata = buildAccessServerMetadata(issuer);

  const revocationChecker = createPrismaRevocationChecker(prisma);
  const {
    app,
    keys,
    tokens: verifier,
  } = await createAAuthServer({
    config,
    role: 'access-server',
    clock,
    localIssuers: [{ issuer, dwk: DWK.access, keys: deps.keys.published, metadata }],
    ...(deps.remoteKeys ? { remoteKeys: deps.remoteKeys } : {}),
    ...(deps.logger === undefined ? {} : { logger: deps.logger }),
    replayCache: createDatabaseReplayCache(deps.database, clock),
    revocations: revocationChecker,
    ready: createReadinessCheck(deps.database, migrationsDir),
  });

  const pending = createPrismaPendingStore(prisma);
  const federationStore = createPrismaFederationStore(prisma);
  const revocations = createRevocationService({
    issuer,
    clock,
    store: createPrismaRevocationStore(prisma),
    notifier: {
      resourceMetadata: (resource) => keys.metadata(resource, DWK.resource),
      signer: createOutboundSigner({ issuer, dwk: DWK.access, key: () => deps.keys.active, clock }),
      fetch:
        deps.outboundFetch ??
        createGuardedPost({ policy: config.egressPolicy, userAgent: 'aauth-ref-auth-server' }),
      identifierPolicy: config.identifierPolicy,
    },
  });

  const context: AppContext = {
    config,
    issuer,
    tokens: createTokenService({
      issuer,
      clock,
      verifier,
      resourceTokenMaxLifetimeSeconds: config.RESOURCE_TOKEN_MAX_LIFETIME_SECONDS,
      facts: createPrismaTokenFactsLookup(prisma),
      pending,
      trust: federationStore,
      issue: createAuthTokenIssuer({
        issuer,
        clock,
        signer: () => deps.keys.active,
        lifetimeSeconds: config.AUTH_TOKEN_TTL_SECONDS,
        store: createPrismaIssuedAuthTokenStore(prisma),
      }),
      pendingTtlSeconds: config.PENDING_TTL_SECONDS,
      identifierPolicy: config.identifierPolicy,
      // R3 §AS Processing: `r3_uri` fetched signed as this AS, `r3_s256` verified, cached by hash.
      r3Documents: createR3DocumentFetcher({
        issuer,
        dwk: DWK.access,
        key: () => deps.keys.active,
        clock,
        identifierPolicy: config.identifierPolicy,
        fetch:
          deps.r3Fetch ??
          createGuardedFetch({
            policy: config.egressPolicy,
            userAgent: 'aauth-ref-auth-server',
            timeoutMs: 5_000,
            maxBytes: R3_DOCUMENT_MAX_BYTES,
          }),
      }),
    }),
    revocations,
  };

  registerWebKit(app);
  const pages: PageContext = {
    issuer,
    clock,
    siteName: metadata.name ?? 'Access Server',
    sessions: createPageSessions({
      store: createSessionStore(createPrismaSessionBackend(prisma), { clock }),
      cookiePrefix: 'as',
      issuer,
      secureCookies: !config.AAUTH_DEV,
      ...(metadata.name ? { siteName: metadata.name } : {}),
      clock,
    }),
    persons: createPrismaPersonStore(prisma),
    loginThrottle: createLoginThrottle({
      perUsername: createMemoryRateLimiter({ limit: 5, windowSeconds: 15 * 60, clock }),
      perAddress: createMemoryRateLimiter({ limit: 50, windowSeconds: 15 * 60, clock }),
    }),
    codeAttempts: {
      perPerson: createMemoryRateLimiter({ limit: 5, windowSeconds: 15 * 60, clock }),
      perAddress: createMemoryRateLimiter({ limit: 30, windowSeconds: 15 * 60, clock }),
    },
    federation: createFederationService({ clock, pending, bindings: federationStore }),
    store: federationStore,
    revocations,
  };

  registerMetadataRoute(app, DWK.access, metadata);
  registerJwksRoute(app, JWKS_PATH, () => deps.keys.published);
  registerTokenRoute(app, context);
  registerPendingRoutes(app, context);
  registerRevokeRoute(app, context);
  registerSignInRoutes(app, pages);
  registerInteractionRoutes(app, pages);
  registerBillingRoutes(app, pages);
  registerAdminRoutes(app, pages);

  // Rows past retention (docs/reliability.md, *Retention*); stopped on close before the database.
  registerRetentionSweeper(
    app,
    createRetentionSweeper({
      tasks: createAccessServerRetentionTasks(deps.database, {
        pendingRetentionSeconds: config.PENDING_RETENTION_SECONDS,
        tokenRecordRetentionSeconds: config.TOKEN_RECORD_RETENTION_SECONDS,
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
