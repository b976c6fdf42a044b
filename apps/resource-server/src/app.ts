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
import type { ResourceServerConfig } from './config.js';
import { buildResourceMetadata, JWKS_PATH } from './metadata.js';
import { registerAgentWhoamiRoute } from './routes/agent-whoami.js';
import { registerAuthorizationRoute } from './routes/authorization.js';
import type { AppContext } from './routes/context.js';
import { registerMeRoute } from './routes/me.js';
import { registerNotesRoutes } from './routes/notes.js';
import { registerRevocationRoute } from './routes/revocation.js';
import { createAccessService } from './services/access-service.js';
import { createNotesService } from './services/notes-service.js';
import { createRevocationService } from './services/revocation-service.js';
import { createPrismaClient, type PrismaClient } from './stores/prisma.js';
import { createPrismaNoteStore } from './stores/prisma-notes.js';
import { createPrismaRevocationChecker, createPrismaRevocationStore } from './stores/prisma-revocations.js';
import { createPrismaTokenRecordStore } from './stores/prisma-token-records.js';

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

  const localKeys = createLocalKeyResolver([
    { issuer, dwk: DWK.resource, keys: deps.keys.published, metadata },
  ]);
  const keys = createCompositeKeyResolver(
    localKeys,
    deps.remoteKeys ?? createHttpKeyResolver({ policy: config.egressPolicy, clock }),
  );
  const tokens = createTokenVerifier({ clock, keys, identifierPolicy: config.identifierPolicy });

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
    tokens,
    role: 'resource',
    windowSeconds: config.SIGNATURE_WINDOW_SECONDS,
    replayCache: createDatabaseReplayCache(deps.database, clock),
    revocations: createPrismaRevocationChecker(prisma),
  });

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
  const context: AppContext = {
    config,
    issuer,
    clock,
    access,
    notes: createNotesService({ store: createPrismaNoteStore(prisma), clock }),
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
  let ready = false;
  registerHealthRoutes(app, {
    ready: async () => {
      if (!(await deps.database.ping())) return false;
      // Migrations only ever get applied, so once ready the folder scan is not repeated.
      ready ||= isMigrationStatusReady(await migrationStatus(deps.database, migrationsDir));
      return ready;
    },
  });
  registerAgentWhoamiRoute(app, context);
  registerMeRoute(app, context);
  registerAuthorizationRoute(app, context);
  registerNotesRoutes(app, context);
  registerRevocationRoute(app, context);

  app.addHook('onClose', async () => {
    if (!deps.prisma) await prisma.$disconnect();
    if (!deps.keepDatabaseOpen) await deps.database.close();
  });
  return app;
}
