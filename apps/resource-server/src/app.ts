import { fileURLToPath } from 'node:url';
import { ChainingClient, type FetchLike } from '@aauth-ref/agent';
import { type Clock, DWK, type IssuerKeyResolver, systemClock } from '@aauth-ref/core';
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
import type { ResourceServerConfig } from './config.js';
import { buildResourceMetadata, JWKS_PATH } from './metadata.js';
import { registerAgentWhoamiRoute } from './routes/agent-whoami.js';
import { registerAuthorizationRoute } from './routes/authorization.js';
import { registerChainRoutes } from './routes/chain.js';
import type { AppContext } from './routes/context.js';
import { registerInteractionRoutes } from './routes/interaction.js';
import { registerJournalRoute } from './routes/journal.js';
import { registerMcpRoutes } from './routes/mcp.js';
import { registerMeRoute } from './routes/me.js';
import { registerNotesRoutes } from './routes/notes.js';
import { registerOpenApiRoute } from './routes/openapi.js';
import { registerPendingRoute } from './routes/pending.js';
import { registerR3DocumentRoute } from './routes/r3-document.js';
import { registerRevocationRoute } from './routes/revocation.js';
import { registerSessionsRoutes } from './routes/sessions.js';
import { registerSignInRoutes } from './routes/signin.js';
import { registerWhoamiRoute } from './routes/whoami.js';
import { createAccessService } from './services/access-service.js';
import { createChainAgentProvider } from './services/chain-agent-provider.js';
import { createChainFetch } from './services/chain-fetch.js';
import { createChainService } from './services/chain-service.js';
import { createMcpService } from './services/mcp-server.js';
import { createNotesService } from './services/notes-service.js';
import { createPendingService } from './services/pending-service.js';
import { createR3Service } from './services/r3-service.js';
import { createRevocationService } from './services/revocation-service.js';
import { createRevocationSet, type RevocationFeed } from './services/revocation-set.js';
import { createSessionTokenService } from './services/session-tokens.js';
import { withoutRevokedPersonTokens } from './services/usable-person-tokens.js';
import { createPrismaClient, type PrismaClient } from './stores/prisma.js';
import { createPrismaChainStore } from './stores/prisma-chain.js';
import { createPrismaNoteStore } from './stores/prisma-notes.js';
import { createPrismaPendingStore } from './stores/prisma-pending.js';
import { createPrismaR3Store } from './stores/prisma-r3.js';
import { createPrismaRevocationFeed, createPrismaRevocationStore } from './stores/prisma-revocations.js';
import { createPrismaSessionTokenStore } from './stores/prisma-session-tokens.js';
import { createPrismaTokenRecordStore } from './stores/prisma-token-records.js';
import { createPrismaSessionBackend, createPrismaUserStore } from './stores/prisma-users.js';
import { createR3RetentionTasks } from './stores/r3-retention.js';
import { createResourceRetentionTasks } from './stores/retention.js';

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
  /** Polling of the in-memory revocation set (docs/spec-decisions.md, *Resource server: revocation state in memory*). */
  readonly revocationRefresh?: RevocationRefreshOptions;
  /** Outbound HTTP of call chaining (default: through the egress policy). Tests inject one. */
  readonly chainFetch?: FetchLike;
  /** Long polls of the pending URLs (`Prefer: wait=N`): tests inject a sleep that does not wait. */
  readonly pendingWait?: PendingWaitOptions;
  /** The retention sweeper's timers (default: unref'd `setTimeout`). Tests fire them by hand. */
  readonly retentionTimers?: RetentionTimers;
}

export interface PendingWaitOptions {
  /** Default: a real timer. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** How often a long poll re-reads its record (default 250 ms). */
  readonly pollIntervalMs?: number;
}

/** Starts calling `tick` every `intervalMs`; returns the function that stops it. `tick` never rejects. */
export type RevocationRefreshScheduler = (tick: () => Promise<void>, intervalMs: number) => () => void;

export interface RevocationRefreshOptions {
  /** Default: an unref'd `setInterval`. Tests pass one they drive by hand. */
  readonly schedule?: RevocationRefreshScheduler;
  /** Poll interval (default 1 000 ms). */
  readonly intervalMs?: number;
  /** Oldest state a request may be answered from (default 3 000 ms); then it polls, and fails closed (503) if it cannot. */
  readonly maxStalenessMs?: number;
  /** Where the revocation rows are read from (default: this database). */
  readonly feed?: RevocationFeed;
}

const scheduleWithInterval: RevocationRefreshScheduler = (tick, intervalMs) => {
  const timer = setInterval(() => void tick(), intervalMs);
  timer.unref();
  return () => clearInterval(timer);
};

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

  // Revocations in memory, polled from the shared table: no query per request (§Token Revocation).
  const revocationSet = createRevocationSet({
    feed: deps.revocationRefresh?.feed ?? createPrismaRevocationFeed(prisma),
    clock,
    ...(deps.revocationRefresh?.intervalMs === undefined
      ? {}
      : { refreshIntervalMs: deps.revocationRefresh.intervalMs }),
    ...(deps.revocationRefresh?.maxStalenessMs === undefined
      ? {}
      : { maxStalenessMs: deps.revocationRefresh.maxStalenessMs }),
  });

  // The resource as its own Agent Provider (§Call Chaining): same issuer, same JWKS.
  const chainAgent = createChainAgentProvider({
    issuer,
    jwksUri: `${issuer}${JWKS_PATH}`,
    key: () => deps.keys.active,
    clock,
  });

  const { app, keys, tokens } = await createAAuthServer({
    config,
    role: 'resource',
    clock,
    localIssuers: [
      { issuer, dwk: DWK.resource, keys: deps.keys.published, metadata },
      { issuer, dwk: DWK.agent, keys: deps.keys.published, metadata: chainAgent.metadata },
    ],
    ...(deps.remoteKeys ? { remoteKeys: deps.remoteKeys } : {}),
    ...(deps.logger === undefined ? {} : { logger: deps.logger }),
    windowSeconds: config.SIGNATURE_WINDOW_SECONDS,
    replayCache: createDatabaseReplayCache(deps.database, clock),
    revocations: revocationSet,
    ready: createReadinessCheck(deps.database, migrationsDir),
  });
  registerWebKit(app);

  // Load at start; when the database is not there yet, the first request polls (and fails closed).
  let refreshFailing = false;
  const refreshRevocations = async (): Promise<void> => {
    try {
      await revocationSet.refresh();
      if (refreshFailing)
        app.log.info({ event: 'revocation.refresh_recovered' }, 'revocation polling recovered');
      refreshFailing = false;
    } catch (err) {
      if (!refreshFailing)
        app.log.warn({ event: 'revocation.refresh_failed', err }, 'revocation polling failed');
      refreshFailing = true;
    }
  };
  await refreshRevocations();
  const stopRevocationRefresh = (deps.revocationRefresh?.schedule ?? scheduleWithInterval)(
    refreshRevocations,
    revocationSet.refreshIntervalMs,
  );
  const revocationStore = createPrismaRevocationStore(prisma);

  const knownScopes = new Set(Object.keys(config.SCOPES));
  const recordStore = createPrismaTokenRecordStore(prisma);
  // What a new resource token may name: never a revoked person token (revocation itself sees them all).
  const records = withoutRevokedPersonTokens(recordStore, revocationSet);
  // The hot read (`list`) goes straight to the driver: see the store.
  const noteStore = createPrismaNoteStore(prisma, deps.database);
  const r3 = createR3Service({
    issuer,
    clock,
    store: createPrismaR3Store(prisma),
    noteStore,
    retentionSeconds: config.R3_RETENTION_SECONDS,
  });
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
    entitleR3Readers: (s256, parties, tokenExp) => r3.entitle(s256, parties, tokenExp),
  });
  const siteName = metadata.name ?? 'AAuth Reference Notes';
  const context: AppContext = {
    config,
    issuer,
    clock,
    keys,
    access,
    database: deps.database,
    noteStore,
    records,
    notes: createNotesService({ store: noteStore, clock }),
    r3,
    pending: createPendingService({
      store: createPrismaPendingStore(prisma),
      clock,
      interactionUrl: `${issuer}/interaction`,
      ttlSeconds: config.PENDING_TTL_SECONDS,
      ...(deps.pendingWait?.sleep === undefined ? {} : { sleep: deps.pendingWait.sleep }),
      ...(deps.pendingWait?.pollIntervalMs === undefined
        ? {}
        : { pollIntervalMs: deps.pendingWait.pollIntervalMs }),
    }),
    sessionTokens: createSessionTokenService({
      store: createPrismaSessionTokenStore(prisma),
      // Session grants share the `(iss, jti)` revocation state as (this issuer, grant id).
      revocations: {
        isRevoked: (grantId) => revocationSet.isRevoked(issuer, grantId),
        async revoke({ grantId, expiresAt, revokedBy, at }) {
          await revocationStore.recordRevocation({ iss: issuer, jti: grantId, revokedBy, at, expiresAt });
          revocationSet.add(issuer, grantId, expiresAt);
        },
      },
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
      records: recordStore,
      store: {
        async recordRevocation(entry) {
          await revocationStore.recordRevocation(entry);
          // Effective here at once; the other instances see it at their next poll.
          revocationSet.add(entry.iss, entry.jti, entry.expiresAt);
        },
      },
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
  registerOpenApiRoute(app, context);
  registerR3DocumentRoute(app, context);
  registerWhoamiRoute(app, context);
  registerMcpRoutes(app, context, createMcpService({ notes: context.notes, noteStore }));
  registerRevocationRoute(app, context);
  registerJournalRoute(app, context);
  registerPendingRoute(app, context);
  registerSignInRoutes(app, context);
  registerInteractionRoutes(app, context);
  registerSessionsRoutes(app, context);
  registerMetadataRoute(app, DWK.agent, chainAgent.metadata);
  if (config.DOWNSTREAM_RESOURCE !== undefined) {
    const client = new ChainingClient({
      identity: () => chainAgent.identity(),
      fetch: deps.chainFetch ?? createChainFetch(config.egressPolicy),
      clock,
      identifierPolicy: config.identifierPolicy,
      verifier: tokens,
    });
    const chain = createChainService({
      clock,
      client,
      downstreamUrl: `${config.DOWNSTREAM_RESOURCE}/api/notes`,
      store: createPrismaChainStore(prisma),
      ttlSeconds: config.PENDING_TTL_SECONDS,
    });
    registerChainRoutes(app, context, chain, config.DOWNSTREAM_RESOURCE);
  }

  // Rows past retention (docs/reliability.md, *Retention*); stopped on close before the database.
  registerRetentionSweeper(
    app,
    createRetentionSweeper({
      tasks: [
        ...createResourceRetentionTasks(deps.database, {
          pendingRetentionSeconds: config.PENDING_RETENTION_SECONDS,
          tokenRecordRetentionSeconds: config.TOKEN_RECORD_RETENTION_SECONDS,
        }),
        ...createR3RetentionTasks(deps.database),
      ],
      clock,
      logger: app.log,
      intervalMs: config.RETENTION_INTERVAL_SECONDS * 1000,
      ...(deps.retentionTimers === undefined ? {} : { timers: deps.retentionTimers }),
    }),
  );

  app.addHook('onClose', async () => {
    stopRevocationRefresh();
    if (!deps.prisma) await prisma.$disconnect();
    if (!deps.keepDatabaseOpen) await deps.database.close();
  });
  return app;
}
