import { InvalidRequest, MissionNotFound, SlowDown } from '@aauth-ref/core';
import type { AgentRef, SecurityEventLog } from './ports.js';

/**
 * §Mission Endpoint Errors: "A PS SHOULD rate-limit and security-log repeated failures, and SHOULD NOT
 * retain raw mission references from failed requests longer than abuse correlation requires."
 *
 * Failures at a mission's own URL (`400 invalid_request`, `404 mission_not_found`) are counted per
 * agent `(iss, sub)` in a sliding window shared by every instance. Beyond the limit the agent is
 * answered `429 slow_down` with `Retry-After` before anything is looked up, and the moment the limit
 * is reached is recorded once as the security event `mission.failures_throttled`. Nothing about the
 * missions asked for is stored: the count is keyed by the agent alone. An unknown mission and another
 * agent's are the same `MissionNotFound` from the same lookup, so they count the same.
 */

/** Failures allowed per agent in any window (docs/spec-decisions.md, *Mission failures*). */
export const MISSION_FAILURE_LIMIT = 10;
export const MISSION_FAILURE_WINDOW_SECONDS = 10 * 60;

export interface FailureLimiter {
  check(key: string): Promise<{ allowed: boolean; retryAfterSeconds: number }>;
  record(key: string): Promise<void>;
}

export interface MissionFailureThrottleDeps {
  readonly limiter: FailureLimiter;
  readonly securityEvents: SecurityEventLog;
  readonly limit?: number;
  readonly windowSeconds?: number;
}

export interface MissionFailureThrottle {
  /** Throws `SlowDown` (429, `Retry-After`) while the agent is over its limit. */
  assertAllowed(agent: AgentRef): Promise<void>;
  /** Whether an error is a failure that counts (a malformed request or an unknown / foreign mission). */
  counts(error: unknown): boolean;
  /** Counts one failure of the agent; records the security event when it reaches the limit. */
  recordFailure(agent: AgentRef, error: { status: number; error: string }): Promise<void>;
}

function keyOf(agent: AgentRef): string {
  return JSON.stringify([agent.iss, agent.sub]);
}

export function createMissionFailureThrottle(deps: MissionFailureThrottleDeps): MissionFailureThrottle {
  const limit = deps.limit ?? MISSION_FAILURE_LIMIT;
  const windowSeconds = deps.windowSeconds ?? MISSION_FAILURE_WINDOW_SECONDS;

  return {
    async assertAllowed(agent) {
      const decision = await deps.limiter.check(keyOf(agent));
      if (decision.allowed) return;
      throw new SlowDown('Too many failed mission requests; retry later.', {
        headers: { 'retry-after': String(decision.retryAfterSeconds) },
      });
    },

    counts(error) {
      return error instanceof InvalidRequest || error instanceof MissionNotFound;
    },

    async recordFailure(agent, error) {
      const key = keyOf(agent);
      await deps.limiter.record(key);
      // Throttled requests are refused before they can fail, so the first refusal-to-be is this one.
      const decision = await deps.limiter.check(key);
      if (decision.allowed) return;
      await deps.securityEvents.record({
        event: 'mission.failures_throttled',
        detail: {
          agent_iss: agent.iss,
          agent_sub: agent.sub,
          failures: limit,
          window_seconds: windowSeconds,
          last_status: error.status,
          last_error: error.error,
          retry_after: decision.retryAfterSeconds,
        },
      });
    },
  };
}
