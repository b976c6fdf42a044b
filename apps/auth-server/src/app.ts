import { fileURLToPath } from 'node:url';
import {
  type Clock,
  createCompositeKeyResolver,
  createHttpKeyResolver,
  createLocalKeyResolver,
  createTokenVerifier,
  DWK,
  type IssuerKeyResolver,
  systemClock,
} from '@aauth-ref/core';
import {
  createDatabaseReplayCache,
  type Database,
  isMigrationStatusReady,
  migrationStatus,
} from '@aauth-ref/db';
import {
  aauthPlugin,
  createLoggerOptions,
  fastifyTrustProxy,
  type KeyRing,
  type LoggerOptionsExtra,
  registerHealthRoutes,
  registerJwksRoute,
  registerMetadataRoute,
} from '@aauth-ref/fastify';
import Fastify, { type FastifyInstance } from 'fastify';
import type { AuthServerConfig } from './config.js';
import { buildAccessServerMetadata, JWKS_PATH } from './metadata.js';
import type { AppContext } from './routes/context.js';
import { registerPendingRoutes } from './routes/pending.js';
import { registerRevokeRoute } from './routes/revoke.js';
import { registerTokenRoute } from './routes/token.js';
import { createAuthTokenIssuer } from './services/auth-token-issuer.js';
import { createRevocationService } from './services/revocation-service.js';
import { createTokenService } from './services/token-service.js';
import { createPrismaClient, type PrismaClient } from './stores/prisma.js';
import { createPrismaIssuedAuthTokenStore } from './stores/prisma-issued-tokens.js';
import { createPrismaPendingStore } from './stores/prisma-pending-store.js';
import { createPrismaPolicyStore } from './stores/prisma-policies.js';
import { createPrismaRevocationStore } from './stores/prisma-revocation-store.js';
import { createPrismaRevocationChecker } from './stores/prisma-revocations.js';

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
  readonly migrationsDir?: string;
  readonly logger?: boolean | LoggerOptionsExtra;
  readonly keepDatabaseOpen?: boolean;
}

/** Builds the Access Server. Never listens: `main.ts` does. */
export async function buildApp(config: AuthServerConfig, deps: AppDeps): Promise<FastifyInstance> {
  const issuer = config.ISSUER;
  const clock = deps.clock ?? systemClock;
  const prisma = deps.prisma ?? createPrismaClient(deps.database);
  const migrationsDir = deps.migrationsDir ?? MIGRATIONS_DIR;
  const metadata = buildAccessServerMetadata(issuer);

  const keys = createCompositeKeyResolver(
    createLocalKeyResolver([{ issuer, dwk: DWK.access, keys: deps.keys.published, metadata }]),
    deps.remoteKeys ?? createHttpKeyResolver({ policy: config.egressPolicy, clock }),
  );
  const verifier = createTokenVerifier({ clock, keys, identifierPolicy: config.identifierPolicy });
  const revocations = createPrismaRevocationChecker(prisma);

  const logger =
    deps.logger === false
      ? false
      : createLoggerOptions(config.LOG_LEVEL, typeof deps.logger === 'object' ? deps.logger : {});
  const app = Fastify({ logger, trustProxy: fastifyTrustProxy(config.TRUST_PROXY) });

  await app.register(aauthPlugin, {
    issuer,
    identifierPolicy: config.identifierPolicy,
    clock,
    keys,
    tokens: verifier,
    role: 'access-server',
    replayCache: createDatabaseReplayCache(deps.database, clock),
    revocations,
  });

  const context: AppContext = {
    config,
    issuer,
    tokens: createTokenService({
      issuer,
      clock,
      verifier,
      isRevoked: (iss, jti) => revocations.isRevoked(iss, jti),
      policies: createPrismaPolicyStore(prisma),
      pending: createPrismaPendingStore(prisma),
      issue: createAuthTokenIssuer({
        issuer,
        clock,
        signer: () => deps.keys.active,
        lifetimeSeconds: config.AUTH_TOKEN_TTL_SECONDS,
        store: createPrismaIssuedAuthTokenStore(prisma),
      }),
      pendingTtlSeconds: config.PENDING_TTL_SECONDS,
    }),
    revocations: createRevocationService({ issuer, clock, store: createPrismaRevocationStore(prisma) }),
  };

  registerMetadataRoute(app, DWK.access, metadata);
  registerJwksRoute(app, JWKS_PATH, () => deps.keys.published);
  registerHealthRoutes(app, {
    ready: async () =>
      (await deps.database.ping()) &&
      isMigrationStatusReady(await migrationStatus(deps.database, migrationsDir)),
  });
  registerTokenRoute(app, context);
  registerPendingRoutes(app, context);
  registerRevokeRoute(app, context);

  app.addHook('onClose', async () => {
    if (!deps.prisma) await prisma.$disconnect();
    if (!deps.keepDatabaseOpen) await deps.database.close();
  });
  return app;
}
