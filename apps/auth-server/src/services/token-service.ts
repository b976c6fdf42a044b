import {
  type Clock,
  Denied,
  Expired,
  Gone,
  InvalidRequest,
  NotFound,
  SlowDown,
  type TokenVerifier,
} from '@aauth-ref/core';
import type { AuthTokenIssuer, AuthTokenResponse } from './auth-token-issuer.js';
import {
  generatePendingId,
  PENDING_ID,
  type PendingRecord,
  type PendingStatus,
  type PendingStore,
} from './pending-store.js';
import { evaluatePolicy, type PolicyDecision } from './policy.js';
import type { GrantContext, PolicyStore } from './ports.js';
import { hasGrantExpired, parseTokenRequest, toGrantContext, verifyTokenRequest } from './token-request.js';

/**
 * The AS token endpoint and its pending URLs (§AS Token Endpoint, §AS Response, §Claims Required,
 * §Deferred Responses, §Polling Error Codes). Framework-free: the routes render what it returns and
 * the error handler renders what it throws.
 */

export interface TokenServiceDeps {
  readonly issuer: string;
  readonly clock: Clock;
  readonly verifier: TokenVerifier;
  readonly isRevoked: (iss: string, jti: string) => Promise<boolean>;
  readonly policies: PolicyStore;
  readonly pending: PendingStore;
  readonly issue: AuthTokenIssuer;
  /** Lifetime of a pending request, seconds. */
  readonly pendingTtlSeconds: number;
}

/** §Claims Required: the example answers `Retry-After: 0` — the PS acts (POSTs) at once. */
export const CLAIMS_RETRY_AFTER = 0;

export type TokenOutcome =
  | { readonly kind: 'issued'; readonly response: AuthTokenResponse }
  | { readonly kind: 'pending'; readonly answer: PendingAnswer };

/** A `202` at the pending URL. */
export interface PendingAnswer {
  readonly id: string;
  readonly retryAfter: number;
  readonly status: 'pending';
  /** Present while the AS waits for claims (`requirement=claims`). */
  readonly requiredClaims?: readonly string[];
}

export type PollAnswer =
  | { readonly kind: 'result'; readonly result: unknown }
  | { readonly kind: 'pending'; readonly answer: PendingAnswer };

export interface TokenService {
  /** `POST /token` from the PS `ps` (the verified `jwks_uri` signer `id`). */
  requestToken(ps: string, body: unknown): Promise<TokenOutcome>;
  /** `GET` of a pending URL. */
  poll(id: string, ps: string): Promise<PollAnswer>;
  /** `POST` of the claims to a pending URL (§Claims Required). */
  submitClaims(id: string, ps: string, body: unknown): Promise<PendingAnswer>;
  /** `DELETE` of a pending URL: later requests are `410`. */
  cancel(id: string, ps: string): Promise<void>;
}

const OPEN: readonly PendingStatus[] = ['claims', 'deciding'];

export function createTokenService(deps: TokenServiceDeps): TokenService {
  const { clock, pending } = deps;
  const now = () => new Date(clock.now());

  // A poll sooner than Retry-After is slow_down (§Polling Error Codes); a little early is tolerated
  // because clients round and networks jitter. With Retry-After 0 every poll is on time.
  const minIntervalMs = (seconds: number) => seconds * 1000 - Math.max(500, seconds * 200);

  async function decide(
    context: GrantContext,
    claims?: Readonly<Record<string, unknown>>,
  ): Promise<PolicyDecision> {
    const [policy, psTrusted] = await Promise.all([
      deps.policies.findResourcePolicy(context.resource),
      deps.policies.isTrustedPersonServer(context.ps),
    ]);
    return evaluatePolicy(policy, {
      ps: context.ps,
      psTrusted,
      ...(context.scope === undefined ? {} : { scope: context.scope }),
      ...(context.tenant === undefined ? {} : { tenant: context.tenant }),
      agent: context.agent,
      subagent: context.subagent_sub !== undefined,
      ...(claims ? { claims } : {}),
    });
  }

  async function load(id: string, ps: string): Promise<PendingRecord> {
    // §Pending URL Security: a pending URL of another PS is answered exactly like an unknown one.
    const record = PENDING_ID.test(id) ? await pending.find(id) : undefined;
    if (!record || record.ps !== ps) throw new NotFound('No such pending request.');
    if (record.terminalAt !== null) throw new Gone('This pending request has ended.');
    return record;
  }

  /** Ends an open request whose time is up: `408 expired`. */
  async function expireIfDue(record: PendingRecord): Promise<void> {
    if (!OPEN.includes(record.status) || now() < record.expiresAt) return;
    if (!(await pending.finish(record.id, now(), 'expired')))
      throw new Gone('This pending request has ended.');
    throw new Expired('The pending request expired; start a new token request.');
  }

  function waiting(
    record: Pick<PendingRecord, 'id' | 'retryAfter'>,
    requiredClaims?: readonly string[] | null,
  ): PendingAnswer {
    return {
      id: record.id,
      retryAfter: record.retryAfter,
      status: 'pending',
      ...(requiredClaims ? { requiredClaims } : {}),
    };
  }

  return {
    async requestToken(ps, body) {
      const params = parseTokenRequest(body);
      const verified = await verifyTokenRequest(
        { issuer: deps.issuer, clock, verifier: deps.verifier, isRevoked: deps.isRevoked },
        ps,
        params,
      );
      const context = toGrantContext(verified);
      const decision = await decide(context);
      switch (decision.kind) {
        case 'grant':
          return { kind: 'issued', response: await deps.issue(context, decision.scope) };
        case 'deny':
          throw new Denied(decision.reason);
        case 'claims': {
          const at = now();
          const record = {
            id: generatePendingId(),
            ps,
            status: 'claims' as const,
            context,
            requiredClaims: decision.required_claims,
            claims: null,
            retryAfter: CLAIMS_RETRY_AFTER,
            // The 202 that created the request counts as the first answer for slow_down.
            lastPolledAt: at,
            createdAt: at,
            expiresAt: new Date(at.getTime() + deps.pendingTtlSeconds * 1000),
          };
          await pending.insert(record);
          return { kind: 'pending', answer: waiting(record, decision.required_claims) };
        }
      }
    },

    async poll(id, ps) {
      const record = await load(id, ps);
      await expireIfDue(record);
      switch (record.status) {
        case 'approved':
          if (!(await pending.finish(record.id, now()))) throw new Gone('This pending request has ended.');
          return { kind: 'result', result: record.result };
        case 'denied':
          if (!(await pending.finish(record.id, now()))) throw new Gone('This pending request has ended.');
          throw new Denied('The resource policy denies this request.');
        case 'cancelled':
        case 'expired':
          await pending.finish(record.id, now());
          throw new Gone('This pending request has ended.');
        default:
          break;
      }
      if (
        record.lastPolledAt &&
        clock.now() - record.lastPolledAt.getTime() < minIntervalMs(record.retryAfter)
      ) {
        await pending.markPolled(record.id, now());
        throw new SlowDown('Polling too frequently; increase the interval by 5 seconds.', {
          headers: { 'retry-after': String(record.retryAfter + 5) },
        });
      }
      await pending.markPolled(record.id, now());
      return {
        kind: 'pending',
        answer: waiting(record, record.status === 'claims' ? record.requiredClaims : null),
      };
    },

    async submitClaims(id, ps, body) {
      const record = await load(id, ps);
      await expireIfDue(record);
      if (record.status !== 'claims')
        throw new InvalidRequest('This pending request is not waiting for claims.');
      const supplied = readClaimsAnswer(body, record);
      // Only the request that moves the row out of `claims` evaluates the answer.
      if (!(await pending.transition(record.id, 'claims', { status: 'deciding', claims: supplied }))) {
        throw new InvalidRequest('This pending request is not waiting for claims.');
      }
      try {
        if (hasGrantExpired(record.context, clock)) {
          await pending.finish(record.id, now(), 'expired');
          throw new Expired('The agent token expired before the claims arrived; start a new token request.');
        }
        const decision = await decide(record.context, supplied);
        if (decision.kind === 'grant') {
          const result = await deps.issue(record.context, decision.scope);
          await pending.transition(record.id, 'deciding', { status: 'approved', result });
          return waiting({ id: record.id, retryAfter: 0 });
        }
        if (decision.kind === 'deny') {
          await pending.transition(record.id, 'deciding', { status: 'denied' });
          return waiting({ id: record.id, retryAfter: 0 });
        }
        await pending.transition(record.id, 'deciding', {
          status: 'claims',
          requiredClaims: decision.required_claims,
        });
        return waiting(record, decision.required_claims);
      } catch (err) {
        // Leave the row answerable again rather than stuck in `deciding` until it expires.
        await pending.transition(record.id, 'deciding', { status: 'claims' }).catch(() => undefined);
        throw err;
      }
    },

    async cancel(id, ps) {
      const record = await load(id, ps);
      if (!(await pending.finish(record.id, now(), 'cancelled')))
        throw new Gone('This pending request has ended.');
    },
  };
}

/** Upper bound on the JSON size of one supplied claim value. */
const MAX_CLAIM_JSON_LENGTH = 4096;

/**
 * §Claims Required: `{"sub": <the resource token's sub>, <claims…>}` and nothing that makes it another
 * kind of answer — a body with `action` (a clarification answer) is not a claims answer. Only the
 * claims asked for are kept; others are ignored.
 */
function readClaimsAnswer(body: unknown, record: PendingRecord): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new InvalidRequest('The claims must be a JSON object.');
  }
  const b = body as Record<string, unknown>;
  if (Object.hasOwn(b, 'action')) {
    throw new InvalidRequest('A claims answer carries no action member.');
  }
  if (typeof b.sub !== 'string' || b.sub.length === 0) throw new InvalidRequest('sub is required.');
  if (b.sub !== record.context.sub) {
    throw new InvalidRequest("sub is not the resource token's sub.");
  }
  const supplied: Record<string, unknown> = { ...record.claims, sub: b.sub };
  for (const name of record.requiredClaims ?? []) {
    if (!Object.hasOwn(b, name) || b[name] === undefined) continue;
    if (JSON.stringify(b[name]).length > MAX_CLAIM_JSON_LENGTH)
      throw new InvalidRequest(`${name} is too large.`);
    supplied[name] = b[name];
  }
  return supplied;
}
