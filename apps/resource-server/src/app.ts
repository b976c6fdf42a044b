import { fileURLToPath } from 'node:url';
import { type Clock, DWK, type IssuerKeyResolver, systemClock } from '@aauth-ref/core';
import { createDatabaseReplayCache, createReadinessCheck, type Database } from '@aauth-ref/db';
import {
  createAAuthServer,
  createLoginThrottle,
  createMemoryRateLimiter,
  createPageSessions,
  createSessionStore,
  type KeyRing,
  type LoggerOptionsExtra,
  registerJwksRoute,
  registerMetadataRoute,
  registerWebKit,
} from '@aauth-ref/fastify';
import type { FastifyInstance } from 'fastify';
import type { ResourceServerConfig } from './config.js';
import { buildResourceMetadata, JWKS_PATH } from './metadata.js';
import { registerAgentWhoamiRoute } from './routes/agent-whoami.js';
import { registerAuthorizationRoute } from './routes/authorization.js';
import type { AppContext } from './routes/context.js';
import { registerInteractionRoutes } from './routes/interaction.js';
import { registerJournalRoute } from './routes/journal.js';
import { registerMeRoute } from './routes/me.js';
import { registerNotesRoutes } from './routes/notes.js';
import { registerPendingRoute } from './routes/pending.js';
import { registerRevocationRoute } from './routes/revocation.js';
import { registerSignInRoutes } from './routes/signin.js';
import { createAccessService } from './services/access-service.js';
import { createNotesService } from './services/notes-service.js';
import { createPendingService } from './services/pending-service.js';
import { createRevocationService } from './services/revocation-service.js';
import { createSessionTokenService } from './services/session-tokens.js';
import { createPrismaClient, type PrismaClient } from './stores/prisma.js';
import { createPrismaNoteStore } from './stores/prisma-notes.js';
import { createPrismaPendingStore } from './stores/prisma-pending.js';
import { createPrismaRevocationChecker, createPrismaRevocationStore } from './stores/prisma-revocations.js';
import { createPrismaSessionTokenStore } from './stores/prisma-session-tokens.js';
import { createPrismaTokenRecordStore } from './stores/prisma-token-records.js';
import { createPrismaSessionBackend, createPrismaUserStore } from './stores/prisma-users.js';

/** The committed Prisma migrations (also in the built image: `dist/` sits next to `prisma/`). */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../prisma/migrations', import.meta.url));

export interface AppDeps {
  /** The open database; `buildApp` closes it with the app unless `keepDatabaseOpen`. */
  readonly database: Database;
  readonly prisma?: PrismaClient;
  readonly clock?: Clock;
  /** The resource's signing keys (`SIGNING_KEYS`): resource tokens and its JWKS. */
  readonly keys: KeyRing;
  /** Key discovery for other issuers (default: HTTP through the egress policy). Tests inject one. */
  readonly remoteKeys?: IssuerKeyResolver;
  readonly migrationsDir?: string;
  readonly logger?: boolean | LoggerOptionsExtra;
  readonly keepDatabaseOpen?: boolean;
}

/** Builds the demo resource server. Never listens: `main.ts` does. */
export async function buildApp(config: ResourceServerConfig, deps: AppDeps): Promise<FastifyInstance> {
  const issuer = config.ISSUER;
  const clock = deps.clock ?? systemClock;
  const prisma = deps.prisma ?? createPrismaClient(deps.database);
  const migrationsDir = deps.migrationsDir ?? MIGRATIONS_DIR;
  const metadata = buildResourceMetadata({
    issuer,
    scopeDescriptions: config.SCOPES,
    signatureWindow: config.SIGNATURE_WINDOW_SECONDS,
  });

  const { app } = await createAAuthServer({
    config,
    role: 'resource',
    clock,
    localIssuers: [{ issuer, dwk: DWK.resource, keys: deps.keys.published, metadata }],
    ...(deps.remoteKeys ? { remoteKeys: deps.remoteKeys } : {}),
    ...(deps.logger === undefined ? {} : { logger: deps.logger }),
    windowSeconds: config.SIGNATURE_WINDOW_SECONDS,
    replayCache: createDatabaseReplayCache(deps.database, clock),
    revocations: createPrismaRevocationChecker(prisma),
    ready: createReadinessCheck(deps.database, migrationsDir),
  });
  registerWebKit(app);

  const knownScopes = new Set(Object.keys(config.SCOPES));
  const records = createPrismaTokenRecordStore(prisma);
  const access = createAccessService({
    issuer,
    clock,
    signer: () => deps.keys.active,
    records,
    personServerTrust: config.PERSON_SERVER_TRUST,
    ...(config.ACCESS_SERVER === undefined ? {} : { accessServer: config.ACCESS_SERVER }),
    ...(config.ACCESS_SERVER_SCOPES === undefined ? {} : { accessServerScopes: config.ACCESS_SERVER_SCOPES }),
    knownScopes,
    resourceTokenTtlSeconds: config.RESOURCE_TOKEN_TTL_SECONDS,
  });
  const noteStore = createPrismaNoteStore(prisma);
  const siteName = metadata.name ?? 'AAuth Reference Notes';
  const context: AppContext = {
    config,
    issuer,
    clock,
    access,
    database: deps.database,
    noteStore,
    records,
    notes: createNotesService({ store: noteStore, clock }),
    pending: createPendingService({
      store: createPrismaPendingStore(prisma),
      clock,
      interactionUrl: `${issuer}/interaction`,
      ttlSeconds: config.PENDING_TTL_SECONDS,
    }),
    sessionTokens: createSessionTokenService({
      store: createPrismaSessionTokenStore(prisma),
      clock,
      ttlSeconds: config.SESSION_TOKEN_TTL_SECONDS,
      rollSeconds: config.SESSION_TOKEN_ROLL_SECONDS,
      graceSeconds: config.SESSION_TOKEN_GRACE_SECONDS,
    }),
    users: createPrismaUserStore(prisma),
    sessions: createPageSessions({
      store: createSessionStore(createPrismaSessionBackend(prisma), { clock }),
      cookiePrefix: 'rs',
      issuer,
      secureCookies: !config.AAUTH_DEV,
      siteName,
      clock,
    }),
    siteName,
    loginThrottle: createLoginThrottle({
      perUsername: createMemoryRateLimiter({ limit: 5, windowSeconds: 15 * 60, clock }),
      perAddress: createMemoryRateLimiter({ limit: 50, windowSeconds: 15 * 60, clock }),
    }),
    codeAttempts: {
      perUser: createMemoryRateLimiter({ limit: 5, windowSeconds: 15 * 60, clock }),
      perAddress: createMemoryRateLimiter({ limit: 30, windowSeconds: 15 * 60, clock }),
    },
    revocations: createRevocationService({
      clock,
      records,
      store: createPrismaRevocationStore(prisma),
      isTrustedPersonServer: access.isTrustedPersonServer,
    }),
    knownScopes,
  };

  registerMetadataRoute(app, DWK.resource, metadata);
  registerJwksRoute(app, JWKS_PATH, () => deps.keys.published);
  registerAgentWhoamiRoute(app, context);
  registerMeRoute(app, context);
  registerAuthorizationRoute(app, context);
  registerNotesRoutes(app, context);
  registerRevocationRoute(app, context);
  registerJournalRoute(app, context);
  registerPendingRoute(app, context);
  registerSignInRoutes(app, context);
  registerInteractionRoutes(app, context);

  app.addHook('onClose', async () => {
    if (!deps.prisma) await prisma.$disconnect();
    if (!deps.keepDatabaseOpen) await deps.database.close();
  });
  return app;
}
