import type { Prisma } from '../generated/prisma/client.js';
import type { BillingCache, FederationState } from '../services/federation-client.js';
import type { FederatedFacts, FederatedRecord, FederatedRequestStore } from '../services/federation-relay.js';
import type { PrismaClient } from './prisma.js';

/**
 * `federated_request` (a deferred four-party request's AS side) and `as_billing` (§AS Response
 * "Payment required": the billing relationship per AS) through Prisma.
 */
export function createPrismaFederatedRequestStore(prisma: PrismaClient): FederatedRequestStore {
  return {
    async insert(record, at) {
      await prisma.federatedRequest.create({
        data: {
          id: record.id,
          accessServer: record.facts.accessServer,
          tokenEndpoint: record.state.tokenEndpoint,
          asPendingUrl: record.state.pendingUrl,
          facts: record.facts as unknown as Prisma.InputJsonValue,
          step: record.state.step as unknown as Prisma.InputJsonValue,
          asRetryAfter: record.state.retryAfter,
          asNextPollAt: record.asNextPollAt,
          agentRetryAfter: record.agentRetryAfter,
          claimsAnswers: record.state.claimsAnswers,
          paymentSeen: record.state.paymentSeen,
          createdAt: at,
          updatedAt: at,
        },
      });
    },
    async find(id): Promise<FederatedRecord | undefined> {
      const row = await prisma.federatedRequest.findUnique({ where: { id } });
      if (!row) return undefined;
      const state: FederationState = {
        tokenEndpoint: row.tokenEndpoint,
        pendingUrl: row.asPendingUrl,
        retryAfter: row.asRetryAfter,
        step: row.step as unknown as FederationState['step'],
        claimsAnswers: row.claimsAnswers,
        paymentSeen: row.paymentSeen,
      };
      return {
        id: row.id,
        facts: row.facts as unknown as FederatedFacts,
        state,
        asNextPollAt: row.asNextPollAt,
        agentRetryAfter: row.agentRetryAfter,
        version: row.version,
      };
    },
    async claim(id, version, at) {
      const result = await prisma.federatedRequest.updateMany({
        where: { id, version },
        data: { version: version + 1, asNextPollAt: at, updatedAt: at },
      });
      return result.count === 1;
    },
    async save(id, version, update, at) {
      const result = await prisma.federatedRequest.updateMany({
        where: { id, version },
        data: {
          version: version + 1,
          asPendingUrl: update.state.pendingUrl,
          step: update.state.step as unknown as Prisma.InputJsonValue,
          asRetryAfter: update.state.retryAfter,
          asNextPollAt: update.asNextPollAt,
          agentRetryAfter: update.agentRetryAfter,
          claimsAnswers: update.state.claimsAnswers,
          paymentSeen: update.state.paymentSeen,
          updatedAt: at,
        },
      });
      return result.count === 1;
    },
  };
}

export function createPrismaBillingCache(prisma: PrismaClient): BillingCache {
  return {
    async has(accessServer) {
      return (await prisma.asBilling.findUnique({ where: { accessServer } })) !== null;
    },
    async record(accessServer, method, at) {
      await prisma.asBilling.upsert({
        where: { accessServer },
        create: { accessServer, method, establishedAt: at },
        update: {},
      });
    },
    async forget(accessServer) {
      await prisma.asBilling.deleteMany({ where: { accessServer } });
    },
  };
}
