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
import type { KeyRing } from '@aauth-ref/fastify';
import { MIGRATIONS_DIR } from '../app.js';
import { loadConfig, type PersonServerConfig } from '../config.js';
import { loadKeyRings } from '../open.js';
import { createRevocationService, type RevocationService } from '../services/revocation-service.js';
import { createPrismaClient, type PrismaClient } from '../stores/prisma.js';
import { type AgentBindingStore, createPrismaBindingStore } from '../stores/prisma-bindings.js';
import { createPrismaPersonStore, type PersonStore } from '../stores/prisma-persons.js';
import { createPrismaRevocationStore } from '../stores/prisma-revocations.js';

/**
 * What the operator commands work on: the server's own stores and its revocation service, built from
 * the same configuration, database and signing keys as the server (so a revocation notice is signed
 * by the PS exactly as one sent from the dashboard).
 */
export interface RevocationEvent {
  readonly level: 'info' | 'warn';
  readonly event: string;
  readonly fields: Readonly<Record<string, unknown>>;
}

export interface PsAdminSession {
  readonly issuer: string;
  readonly clock: Clock;
  readonly prisma: PrismaClient;
  readonly persons: PersonStore;
  readonly bindings: AgentBindingStore;
  readonly revocations: RevocationService;
  /** What the revocation service logged (`revocation.notified`, `revocation.cascade_failed`, …). */
  readonly revocationEvents: RevocationEvent[];
  close(): Promise<void>;
}

export interface PsAdminSessionDeps {
  readonly config: PersonServerConfig;
  readonly prisma: PrismaClient;
  readonly psKeys: KeyRing;
  readonly clock?: Clock;
  /** Resource metadata discovery (default: HTTP under the egress policy). */
  readonly remoteKeys?: IssuerKeyResolver;
  /** Revocation notices (default: a signed POST through egress admission). */
  readonly outboundFetch?: OutboundFetch;
  /** Runs after the session's own clean-up (closing what `openPsAdminSession` opened). */
  readonly close?: () => Promise<void>;
}

export function createPsAdminSession(deps: PsAdminSessionDeps): PsAdminSession {
  const { config, prisma } = deps;
  const issuer = config.ISSUER;
  const clock = deps.clock ?? systemClock;
  const remoteKeys = deps.remoteKeys ?? createHttpKeyResolver({ policy: config.egressPolicy, clock });
  const revocationEvents: RevocationEvent[] = [];
  const revocations = createRevocationService({
    issuer,
    clock,
    identifierPolicy: config.identifierPolicy,
    trustedIssuers: config.REVOCATION_TRUSTED_ISSUERS,
    store: createPrismaRevocationStore(prisma, issuer),
    resourceMetadata: (resource) => remoteKeys.metadata(resource, DWK.resource),
    signer: createOutboundSigner({ issuer, dwk: DWK.person, key: () => deps.psKeys.active, clock }),
    fetch: deps.outboundFetch ?? createGuardedPost({ policy: config.egressPolicy }),
    log: {
      info: (event, fields) => revocationEvents.push({ level: 'info', event, fields }),
      warn: (event, fields) => revocationEvents.push({ level: 'warn', event, fields }),
    },
  });
  return {
    issuer,
    clock,
    prisma,
    persons: createPrismaPersonStore(prisma),
    bindings: createPrismaBindingStore(prisma),
    revocations,
    revocationEvents,
    async close() {
      await revocations.settled();
      await deps.close?.();
    },
  };
}

/**
 * The server's configuration from the environment (`DATABASE_URL` or the PGlite database under
 * `DATA_DIR`, `SIGNING_KEYS`, …), its database with the committed migrations applied (as the server
 * does at start), and its keys.
 */
export async function openPsAdminSession(
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<PsAdminSession> {
  const config = loadConfig(env);
  const database = await openServerDatabase(config);
  try {
    await applyMigrations(database, MIGRATIONS_DIR);
    const { psKeys } = await loadKeyRings(config);
    const prisma = createPrismaClient(database);
    return createPsAdminSession({
      config,
      prisma,
      psKeys,
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
