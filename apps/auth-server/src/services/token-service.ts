import {
  type AAuthRequirement,
  type Clock,
  Denied,
  Expired,
  Gone,
  generateInteractionCode,
  type IdentifierPolicy,
  InvalidRequest,
  InvalidResourceToken,
  isR3Proposal,
  NotFound,
  normalizeInteractionCode,
  type R3DocumentFetcher,
  readR3Reference,
  STRICT,
  type TokenVerifier,
} from '@aauth-ref/core';
import { enforcePollPace } from '@aauth-ref/fastify';
import type { AuthTokenIssuer, AuthTokenResponse } from './auth-token-issuer.js';
import {
  generateBrowserId,
  generatePendingId,
  PENDING_ID,
  type PendingRecord,
  type PendingStatus,
  type PendingStore,
  type StepFields,
} from './pending-store.js';
import { evaluatePolicy, type PolicyDecision } from './policy.js';
import type { GrantContext, TokenFacts, TokenFactsLookup, TrustStore } from './ports.js';
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
  /** The longest resource-token lifetime accepted (§Resource Token Structure; default 5 minutes). */
  readonly resourceTokenMaxLifetimeSeconds?: number;
  /** The policy, trust and revocation reads of a decision, in one round trip. */
  readonly facts: TokenFactsLookup;
  readonly pending: PendingStore;
  /** The external events a waiting request polls for (a binding, a payment). */
  readonly trust: TrustStore;
  readonly issue: AuthTokenIssuer;
  /** Lifetime of a pending request, seconds. */
  readonly pendingTtlSeconds: number;
  /** R3 §AS Processing: absent, a resource token with `r3_uri` is `invalid_resource_token`. */
  readonly r3Documents?: R3DocumentFetcher;
  /** For the `r3_uri` shape check (dev mode admits loopback `http`). */
  readonly identifierPolicy?: IdentifierPolicy;
}

/** §Claims Required: the example answers `Retry-After: 0` — the PS acts (POSTs) at once. */
export const CLAIMS_RETRY_AFTER = 0;
/** Steps a person or administrator completes in a browser: the PS polls at this pace. */
export const HUMAN_STEP_RETRY_AFTER = 5;

export const INTERACTION_PATH = '/interaction';
export const BILLING_PREFIX = '/billing';

export type TokenOutcome =
  | { readonly kind: 'issued'; readonly response: AuthTokenResponse }
  | { readonly kind: 'pending'; readonly answer: PendingAnswer };

/** A `202` (or, for the billing step, `402`) at the pending URL. */
export interface PendingAnswer {
  readonly id: string;
  readonly httpStatus: 202 | 402;
  readonly retryAfter: number;
  readonly requirement?: AAuthRequirement;
  /** The JSON body: `status` and the members of the requirement. */
  readonly body: { readonly status: 'pending' | 'interacting'; readonly [member: string]: unknown };
}

export type PollAnswer =
  | { readonly kind: 'result'; readonly result: unknown }
  | { readonly kind: 'pending'; readonly answer: PendingAnswer };

export interface TokenService {
  /** `POST /token` from the PS `ps` (the verified `jwks_uri` signer `id`). */
  requestToken(ps: string, body: unknown): Promise<TokenOutcome>;
  /** `GET` of a pending URL. */
  poll(id: string, ps: string): Promise<PollAnswer>;
  /**
   * `POST` to a pending URL: the claims of §Claims Required (no `action` member) or an `action` of
   * `clarification_response` (§Clarification Response).
   */
  submit(id: string, ps: string, body: unknown): Promise<PendingAnswer>;
  /** `DELETE` of a pending URL: later requests are `410`. */
  cancel(id: string, ps: string): Promise<void>;
}

const OPEN: readonly PendingStatus[] = [
  'payment',
  'interaction',
  'interacting',
  'claims',
  'clarification',
  'approval',
  'deciding',
];

/** Steps waiting on something outside the PS's requests (a payment, a binding, an administrator). */
const EXTERNAL: readonly PendingStatus[] = ['payment', 'interaction', 'interacting', 'approval'];

/** The stored (normalized) code as people read it: `ABCD-EFGH`. */
export function displayInteractionCode(code: string): string {
  return code.replace(/(.{4})(?=.)/g, '$1-');
}

type StepDecision = Exclude<PolicyDecision, { kind: 'grant' } | { kind: 'deny' }>;

export function createTokenService(deps: TokenServiceDeps): TokenService {
  const { clock, pending } = deps;
  const now = () => new Date(clock.now());

  // A poll sooner than Retry-After is slow_down (§Polling Error Codes); a little early is tolerated
  // because clients round and networks jitter. With Retry-After 0 every poll is on time.

  /**
   * R3 §AS Processing steps 2–3 after step 1 (the resource token verified): the document fetched
   * signed as this AS and checked against `r3_s256`, kept in the context so a pending request is
   * decided on the same document without fetching it again.
   */
  async function withR3(
    context: GrantContext,
    resourceClaims: Readonly<Record<string, unknown>>,
  ): Promise<GrantContext> {
    const reference = readR3Reference(resourceClaims, deps.identifierPolicy ?? STRICT);
    if (reference === undefined) return context;
    if (deps.r3Documents === undefined) {
      throw new InvalidResourceToken('This access server does not process R3 resource tokens.');
    }
    const { document } = await deps.r3Documents.fetch(reference, context.resource);
    return {
      ...context,
      r3: {
        ...reference,
        vocabulary: document.vocabulary,
        operations: document.operations,
        proposal: isR3Proposal(document),
      },
    };
  }

  /** Decides on `facts` read with the request's verification, or reads them now (a pending request). */
  async function decide(
    context: GrantContext,
    record?: PendingRecord,
    facts?: TokenFacts,
  ): Promise<PolicyDecision> {
    const { policy, psTrusted, bound, billing } =
      facts ??
      (await deps.facts.findTokenFacts({ resource: context.resource, ps: context.ps, sub: context.sub }));
    return evaluatePolicy(policy, {
      ps: context.ps,
      psTrusted,
      ...(context.scope === undefined ? {} : { scope: context.scope }),
      ...(context.tenant === undefined ? {} : { tenant: context.tenant }),
      agent: context.agent,
      subagent: context.subagent_sub !== undefined,
      ...(record?.claims ? { claims: record.claims } : {}),
      bound,
      billing,
      approved: record?.approvedAt != null,
      ...(record?.answers ? { answers: record.answers } : {}),
      ...(context.r3 === undefined ? {} : { r3: context.r3 }),
    });
  }

  /** The row's state for a step the policy asks for. */
  function stepFor(
    decision: StepDecision,
    record: PendingRecord | undefined,
    at: Date,
  ): { status: PendingStatus } & StepFields {
    // A code is generated once and kept until consumed; a consumed one means the person is binding.
    const code = () =>
      record?.interactionCode
        ? {}
        : { interactionCode: normalizeInteractionCode(generateInteractionCode())! };
    switch (decision.kind) {
      case 'payment':
        return {
          status: 'payment',
          billingId: record?.billingId ?? generateBrowserId(),
          retryAfter: HUMAN_STEP_RETRY_AFTER,
          ...(decision.interaction ? code() : {}),
        };
      case 'interaction':
        return {
          status: record?.codeConsumedAt ? 'interacting' : 'interaction',
          retryAfter: HUMAN_STEP_RETRY_AFTER,
          ...code(),
        };
      case 'claims':
        return { status: 'claims', requiredClaims: decision.required_claims, retryAfter: CLAIMS_RETRY_AFTER };
      case 'clarification': {
        const { kind: _kind, ...question } = decision;
        const limit = decision.timeout === undefined ? undefined : at.getTime() + decision.timeout * 1000;
        const expiresAt = record?.expiresAt ?? new Date(at.getTime() + deps.pendingTtlSeconds * 1000);
        return {
          status: 'clarification',
          clarification: question,
          retryAfter: CLAIMS_RETRY_AFTER,
          ...(limit !== undefined && limit < expiresAt.getTime() ? { expiresAt: new Date(limit) } : {}),
        };
      }
      case 'approval':
        return { status: 'approval', retryAfter: HUMAN_STEP_RETRY_AFTER };
    }
  }

  /** What a waiting row answers. */
  function answerFor(record: PendingRecord): PendingAnswer {
    const base = { id: record.id, retryAfter: record.retryAfter, httpStatus: 202 as const };
    const interaction = (): AAuthRequirement | undefined =>
      record.interactionCode && !record.codeConsumedAt
        ? {
            requirement: 'interaction',
            url: `${deps.issuer}${INTERACTION_PATH}`,
            code: displayInteractionCode(record.interactionCode),
          }
        : undefined;
    switch (record.status) {
      case 'payment': {
        const requirement = interaction();
        return {
          ...base,
          httpStatus: 402,
          ...(requirement ? { requirement } : {}),
          body: {
            status: 'pending',
            payment: { method: 'demo', url: `${deps.issuer}${BILLING_PREFIX}/${record.billingId}` },
          },
        };
      }
      case 'interaction': {
        const requirement = interaction();
        return { ...base, ...(requirement ? { requirement } : {}), body: { status: 'pending' } };
      }
      case 'interacting':
        return { ...base, body: { status: 'interacting' } };
      case 'claims':
        return {
          ...base,
          requirement: { requirement: 'claims' },
          body: { status: 'pending', required_claims: [...(record.requiredClaims ?? [])] },
        };
      case 'clarification': {
        const q = record.clarification;
        const remaining = Math.max(0, Math.ceil((record.expiresAt.getTime() - clock.now()) / 1000));
        return {
          ...base,
          requirement: { requirement: 'clarification' },
          body: {
            status: 'pending',
            clarification: q?.clarification ?? '',
            ...(q?.options ? { options: [...q.options] } : {}),
            ...(q?.timeout === undefined ? {} : { timeout: remaining }),
          },
        };
      }
      case 'approval':
        return { ...base, requirement: { requirement: 'approval' }, body: { status: 'pending' } };
      default:
        // Decided (the next GET gives the outcome) or being decided: poll at once.
        return { ...base, retryAfter: 0, body: { status: 'pending' } };
    }
  }

  async function load(id: string, ps: string): Promise<PendingRecord> {
    // §Pending URL Security: a pending URL of another PS is answered exactly like an unknown one.
    const record = PENDING_ID.test(id) ? await pending.find(id) : undefined;
    if (!record || record.ps !== ps) throw new NotFound('No such pending request.');
    if (record.terminalAt !== null) throw new Gone('This pending request has ended.');
    return record;
  }

  async function reload(id: string): Promise<PendingRecord> {
    const record = await pending.find(id);
    if (!record) throw new Gone('This pending request has ended.');
    return record;
  }

  /** Ends an open request whose time is up: `408 expired`. */
  async function expireIfDue(record: PendingRecord): Promise<void> {
    if (!OPEN.includes(record.status) || now() < record.expiresAt) return;
    if (!(await pending.finish(record.id, now(), 'expired')))
      throw new Gone('This pending request has ended.');
    throw new Expired('The pending request expired; start a new token request.');
  }

  /**
   * Re-evaluates a row the caller moved to `deciding` (with what it changed) and stores the outcome:
   * the token, a refusal, or the next step. On failure the row goes back to `from`.
   */
  async function settle(record: PendingRecord, from: PendingStatus): Promise<void> {
    try {
      if (hasGrantExpired(record.context, clock)) {
        await pending.finish(record.id, now(), 'expired');
        throw new Expired(
          'The agent token expired before the request was decided; start a new token request.',
        );
      }
      const decision = await decide(record.context, record);
      if (decision.kind === 'grant') {
        const result = await deps.issue(record.context, decision.scope, decision.r3);
        await pending.transition(record.id, 'deciding', { status: 'approved', result });
      } else if (decision.kind === 'deny') {
        await pending.transition(record.id, 'deciding', { status: 'denied' });
      } else {
        const { status, ...fields } = stepFor(decision, record, now());
        await pending.transition(record.id, 'deciding', { status, ...fields });
      }
    } catch (err) {
      // Leave the row answerable again rather than stuck in `deciding` until it expires.
      await pending.transition(record.id, 'deciding', { status: from }).catch(() => undefined);
      throw err;
    }
  }

  /** Whether the external event a waiting row needs has happened. */
  async function isSatisfied(record: PendingRecord): Promise<boolean> {
    switch (record.status) {
      case 'payment':
        return deps.trust.hasBilling(record.ps);
      case 'interaction':
      case 'interacting':
        return deps.trust.isBound(record.ps, record.context.sub);
      case 'approval':
        return record.approvedAt !== null;
      default:
        return false;
    }
  }

  /** The answer to a POST: decided rows are polled for their outcome. */
  function afterPost(record: PendingRecord): PendingAnswer {
    if (record.status === 'approved' || record.status === 'denied')
      return { id: record.id, httpStatus: 202, retryAfter: 0, body: { status: 'pending' } };
    return answerFor(record);
  }

  async function terminalAnswer(record: PendingRecord): Promise<PollAnswer | undefined> {
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
        return undefined;
    }
  }

  return {
    async requestToken(ps, body) {
      const params = parseTokenRequest(body);
      const { state: facts, ...verified } = await verifyTokenRequest(
        {
          issuer: deps.issuer,
          clock,
          verifier: deps.verifier,
          // The context's resource, ps and sub are the resource token's iss, ps and sub.
          readState: ({ resource, agent, subagent }) =>
            deps.facts.findTokenFacts({
              resource: resource.iss,
              ps: resource.ps,
              sub: resource.sub,
              agent,
              ...(subagent ? { subagent } : {}),
            }),
          ...(deps.resourceTokenMaxLifetimeSeconds === undefined
            ? {}
            : { resourceTokenMaxLifetimeSeconds: deps.resourceTokenMaxLifetimeSeconds }),
        },
        ps,
        params,
      );
      const context = await withR3(toGrantContext(verified), verified.resource.claims);
      const decision = await decide(context, undefined, facts);
      if (decision.kind === 'grant')
        return { kind: 'issued', response: await deps.issue(context, decision.scope, decision.r3) };
      if (decision.kind === 'deny') throw new Denied(decision.reason);
      const at = now();
      const id = generatePendingId();
      await pending.insert({
        id,
        ps,
        context,
        // The 202 that created the request counts as the first answer for slow_down.
        lastPolledAt: at,
        createdAt: at,
        expiresAt: new Date(at.getTime() + deps.pendingTtlSeconds * 1000),
        retryAfter: CLAIMS_RETRY_AFTER,
        ...stepFor(decision, undefined, at),
      });
      return { kind: 'pending', answer: answerFor(await reload(id)) };
    },

    async poll(id, ps) {
      let record = await load(id, ps);
      await expireIfDue(record);
      const terminal = await terminalAnswer(record);
      if (terminal) return terminal;
      await enforcePollPace(record, now(), (pendingId, at) => pending.markPolled(pendingId, at));
      await pending.markPolled(record.id, now());
      if (EXTERNAL.includes(record.status) && (await isSatisfied(record))) {
        // Only the poll that moves the row to `deciding` re-evaluates; a concurrent one just answers.
        if (await pending.transition(record.id, record.status, { status: 'deciding' })) {
          await settle(record, record.status);
        }
        record = await reload(record.id);
        const decided = await terminalAnswer(record);
        if (decided) return decided;
      }
      return { kind: 'pending', answer: answerFor(record) };
    },

    async submit(id, ps, body) {
      const record = await load(id, ps);
      await expireIfDue(record);
      if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        throw new InvalidRequest('The request body must be a JSON object.');
      }
      const b = body as Record<string, unknown>;
      if (!Object.hasOwn(b, 'action')) {
        // §Claims Required: the claims answer has no action member, and is taken only while awaited.
        if (record.status !== 'claims')
          throw new InvalidRequest('This pending request is not waiting for claims.');
        const supplied = readClaimsAnswer(b, record);
        if (!(await pending.transition(record.id, 'claims', { status: 'deciding', claims: supplied }))) {
          throw new InvalidRequest('This pending request is not waiting for claims.');
        }
        await settle({ ...record, claims: supplied }, 'claims');
        return afterPost(await reload(record.id));
      }
      // §Agent Response to Clarification: a missing or unrecognized action is 400.
      if (b.action === 'clarification_response') {
        if (record.status !== 'clarification' || !record.clarification)
          throw new InvalidRequest('This pending request is not waiting for a clarification response.');
        const response = b.clarification_response;
        if (typeof response !== 'string' || response.trim() === '')
          throw new InvalidRequest('clarification_response is required (a Markdown string).');
        if (response.length > MAX_CLARIFICATION_LENGTH)
          throw new InvalidRequest('clarification_response is too long.');
        const answers = { ...record.answers, [record.clarification.clarification]: response };
        if (
          !(await pending.transition(record.id, 'clarification', {
            status: 'deciding',
            answers,
            clarification: null,
          }))
        ) {
          throw new InvalidRequest('This pending request is not waiting for a clarification response.');
        }
        await settle({ ...record, answers }, 'clarification');
        return afterPost(await reload(record.id));
      }
      if (b.action === 'updated_request')
        throw new InvalidRequest(
          'This access server does not accept updated requests; start a new token request.',
        );
      throw new InvalidRequest('Unrecognized action.');
    },

    async cancel(id, ps) {
      const record = await load(id, ps);
      if (!(await pending.finish(record.id, now(), 'cancelled')))
        throw new Gone('This pending request has ended.');
    },
  };
}

/** Upper bound on a clarification response (Markdown). */
const MAX_CLARIFICATION_LENGTH = 4096;

/** Upper bound on the JSON size of one supplied claim value. */
const MAX_CLAIM_JSON_LENGTH = 4096;

/**
 * §Claims Required: `{"sub": <the resource token's sub>, <claims…>}` and nothing that makes it another
 * kind of answer — a body with `action` (a clarification answer) is not a claims answer. Only the
 * claims asked for are kept; others are ignored.
 */
function readClaimsAnswer(b: Record<string, unknown>, record: PendingRecord): Record<string, unknown> {
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
