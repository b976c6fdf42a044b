import {
  type Clock,
  createGuardedPost,
  createHttpKeyResolver,
  createOutboundSigner,
  DWK,
  type IssuerKeyResolver,
  type OutboundFetch,
  systemClock,
} from '@aauth-ref/core';
import { applyMigrations, openServerDatabase } from '@aauth-ref/db';
import { type KeyRing, loadKeyRing } from '@aauth-ref/fastify';
import { MIGRATIONS_DIR } from '../app.js';
import { type AuthServerConfig, loadConfig } from '../config.js';
import { createRevocationService, type RevocationService } from '../services/revocation-service.js';
import { createPrismaClient, type PrismaClient } from '../stores/prisma.js';
import {
  createPrismaFederationStore,
  createPrismaPersonStore,
  type FederationStore,
  type PersonStore,
} from '../stores/prisma-federation.js';
import { createPrismaRevocationStore } from '../stores/prisma-revocation-store.js';

/**
 * What the operator commands work on: the AS's own stores and its revocation service, built from the
 * same configuration, database and signing key as the server, so a revocation notice is signed by
 * the AS exactly as one sent from the administration page.
 */
export interface AsAdminSession {
  readonly config: AuthServerConfig;
  readonly clock: Clock;
  readonly prisma: PrismaClient;
  readonly persons: PersonStore;
  readonly federation: FederationStore;
  readonly revocations: RevocationService;
  close(): Promise<void>;
}

export interface AsAdminSessionDeps {
  readonly config: AuthServerConfig;
  readonly prisma: PrismaClient;
  readonly keys: KeyRing;
  readonly clock?: Clock;
  /** Resource metadata discovery (default: HTTP under the egress policy). */
  readonly remoteKeys?: IssuerKeyResolver;
  /** Revocation notices (default: a signed POST through egress admission). */
  readonly outboundFetch?: OutboundFetch;
  /** Closes what `openAsAdminSession` opened. */
  readonly close?: () => Promise<void>;
}

export function createAsAdminSession(deps: AsAdminSessionDeps): AsAdminSession {
  const { config, prisma } = deps;
  const issuer = config.ISSUER;
  const clock = deps.clock ?? systemClock;
  const remoteKeys = deps.remoteKeys ?? createHttpKeyResolver({ policy: config.egressPolicy, clock });
  return {
    config,
    clock,
    prisma,
    persons: createPrismaPersonStore(prisma),
    federation: createPrismaFederationStore(prisma),
    revocations: createRevocationService({
      issuer,
      clock,
      store: createPrismaRevocationStore(prisma),
      notifier: {
        resourceMetadata: (resource) => remoteKeys.metadata(resource, DWK.resource),
        signer: createOutboundSigner({ issuer, dwk: DWK.access, key: () => deps.keys.active, clock }),
        fetch:
          deps.outboundFetch ??
          createGuardedPost({ policy: config.egressPolicy, userAgent: 'aauth-ref-auth-server' }),
        identifierPolicy: config.identifierPolicy,
      },
    }),
    async close() {
      await deps.close?.();
    },
  };
}

/**
 * The server's configuration from the environment (`DATABASE_URL` or the PGlite database under
 * `DATA_DIR`, `SIGNING_KEYS`, …), its database with the committed migrations applied (as the server
 * does at start), and its signing keys.
 */
export async function openAsAdminSession(
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<AsAdminSession> {
  const config = loadConfig(env);
  const database = await openServerDatabase(config);
  try {
    await applyMigrations(database, MIGRATIONS_DIR);
    const keys = await loadKeyRing(config);
    const prisma = createPrismaClient(database);
    return createAsAdminSession({
      config,
      prisma,
      keys,
      close: async () => {
        await prisma.$disconnect();
        await database.close();
      },
    });
  } catch (err) {
    await database.close().catch(() => undefined);
    throw err;
  }
}
