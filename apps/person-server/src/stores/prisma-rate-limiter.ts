import type { Clock } from '@aauth-ref/core';
import type { PrismaClient } from './prisma.js';

/**
 * A sliding-window rate limiter kept in the database, so every instance behind a load balancer counts
 * the same attempts (ARCHITECTURE.md, *Deployment*). It has the shape of the web kit's `RateLimiter`
 * (`@aauth-ref/fastify`, used for sign-in) and the same arithmetic: at most `limit` attempts in any
 * window of `windowSeconds`; when refused, `Retry-After` is the time until the oldest attempt that
 * still counts leaves the window. Expired rows of a key are deleted whenever that key records again.
 */

export interface RateLimitDecision {
  readonly allowed: boolean;
  readonly remaining: number;
  readonly retryAfterSeconds: number;
}

export interface PrismaRateLimiterOptions {
  /** Separates limiters sharing the table (e.g. `mission_failure`). */
  readonly scope: string;
  readonly limit: number;
  readonly windowSeconds: number;
  readonly clock: Clock;
}

export interface DatabaseRateLimiter {
  check(key: string): Promise<RateLimitDecision>;
  record(key: string): Promise<void>;
  reset(key: string): Promise<void>;
}

export function createPrismaRateLimiter(
  prisma: PrismaClient,
  options: PrismaRateLimiterOptions,
): DatabaseRateLimiter {
  const { scope, limit } = options;
  const windowMs = options.windowSeconds * 1000;

  return {
    async check(key) {
      const now = options.clock.now();
      // Only the newest `limit` attempts in the window can decide.
      const rows = await prisma.rateLimitAttempt.findMany({
        where: { scope, key, at: { gt: new Date(now - windowMs) } },
        select: { at: true },
        orderBy: { at: 'desc' },
        take: limit,
      });
      if (rows.length < limit) {
        return { allowed: true, remaining: limit - rows.length, retryAfterSeconds: 0 };
      }
      const gate = rows[rows.length - 1]!.at.getTime();
      return {
        allowed: false,
        remaining: 0,
        retryAfterSeconds: Math.max(1, Math.ceil((gate + windowMs - now) / 1000)),
      };
    },

    async record(key) {
      const now = options.clock.now();
      await prisma.$transaction([
        prisma.rateLimitAttempt.deleteMany({ where: { scope, key, at: { lte: new Date(now - windowMs) } } }),
        prisma.rateLimitAttempt.create({ data: { scope, key, at: new Date(now) } }),
      ]);
    },

    async reset(key) {
      await prisma.rateLimitAttempt.deleteMany({ where: { scope, key } });
    },
  };
}
