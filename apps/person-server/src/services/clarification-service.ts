import { type Clock, Gone, InvalidRequest, InvalidResourceToken } from '@aauth-ref/core';
import type { AuthTokenPlan } from './auth-token-service.js';
import { type StoredTokenRequest, storedTokenRequestOf } from './consent-view.js';
import {
  type ClarificationAnswer,
  type ClarificationState,
  openQuestion,
  type PendingRecord,
  type PendingService,
} from './pending-service.js';
import { checkResourceToken, type ResourceTokenCheckDeps } from './resource-token-check.js';
import { MAX_JUSTIFICATION_LENGTH } from './token-request-params.js';

/**
 * The clarification chat (§Clarification Chat, §Agent Response to Clarification, §Clarification
 * Limits, §Clarification Chat Security): the person asks from the consent page, the agent's polls
 * answer `202 requirement=clarification` with the question, and the agent answers with a signed
 * `POST` to the pending URL — a `clarification_response`, or an `updated_request` carrying a new
 * resource token — or withdraws with `DELETE`. Every text is stored raw and sanitized when shown.
 */

/** §Clarification Limits: "recommended: 5 rounds maximum". */
export const MAX_CLARIFICATION_ROUNDS = 5;
export const MAX_QUESTION_LENGTH = 2000;
export const MAX_CLARIFICATION_RESPONSE_LENGTH = MAX_JUSTIFICATION_LENGTH;

export interface ClarificationServiceDeps {
  readonly clock: Clock;
  readonly pending: PendingService;
  /** §Resource Token Verification for an updated request's new resource token. */
  readonly resourceTokens: ResourceTokenCheckDeps;
  /**
   * Compatibility (`ACCEPT_CLARIFICATION_WITHOUT_ACTION`): a POST with `clarification_response` and
   * no `action` is read as `action: "clarification_response"`.
   */
  readonly acceptWithoutAction?: boolean;
}

export type AskOutcome =
  | 'asked'
  /** The request did not declare the `clarification` capability. */
  | 'not_supported'
  | 'limit_reached'
  /** A question already awaits the agent's answer. */
  | 'awaiting_answer'
  /** Empty or too long. */
  | 'invalid_question'
  /** The request changed meanwhile (decided, withdrawn, or another step won). */
  | 'not_open';

export interface ClarificationService {
  /** The person (holding the interaction) asks the agent a question. */
  ask(record: PendingRecord, personId: string, question: string): Promise<AskOutcome>;
  /** Whether another question may be asked now. */
  canAsk(record: PendingRecord): boolean;
  /**
   * The agent's `POST` to its pending URL, for the record `pending.loadForOwner` returned (the route
   * reads it once). Throws `InvalidRequest`, `InvalidResourceToken`, `Gone`.
   */
  respond(record: PendingRecord, body: unknown): Promise<void>;
}

export function roundsOf(record: PendingRecord): number {
  return record.clarification?.turns.length ?? 0;
}

function declaresClarification(stored: StoredTokenRequest): boolean {
  return stored.capabilities?.includes('clarification') === true;
}

function requireText(value: unknown, name: string, max: number): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new InvalidRequest(`${name} must be a non-empty string.`);
  }
  if (value.length > max) throw new InvalidRequest(`${name} is too long.`);
  return value;
}

/** Claims an updated resource token must keep from the original (§Updated Request, docs/spec-decisions.md). */
function assertSameRequest(
  plan: AuthTokenPlan,
  claims: Awaited<ReturnType<typeof checkResourceToken>>['claims'],
  issuer: string,
): void {
  const changed: string[] = [];
  if (claims.iss !== plan.resource) changed.push('iss');
  if (claims.agent_jkt !== plan.cnfJkt) changed.push('agent_jkt');
  if (claims.ps !== issuer) changed.push('ps');
  if (claims.sub !== plan.sub) changed.push('sub');
  if ((claims.mission_s256 ?? null) !== (plan.missionS256 ?? null)) changed.push('mission_s256');
  // R3: the person is shown the document the plan holds; another document is a new request.
  if ((claims.r3_uri ?? null) !== (plan.r3?.r3_uri ?? null)) changed.push('r3_uri');
  if ((claims.r3_s256 ?? null) !== (plan.r3?.r3_s256 ?? null)) changed.push('r3_s256');
  const interaction = claims.interaction;
  const original = plan.resourceInteraction;
  if (
    interaction !== undefined &&
    (original === undefined || interaction.url !== original.url || interaction.code !== original.code)
  ) {
    changed.push('interaction');
  }
  if (changed.length > 0) {
    throw new InvalidResourceToken(
      `The updated resource token must keep the original request's ${changed.join(', ')}.`,
    );
  }
}

export function createClarificationService(deps: ClarificationServiceDeps): ClarificationService {
  const { pending } = deps;
  const nowIso = () => new Date(deps.clock.now()).toISOString();

  function canAsk(record: PendingRecord): boolean {
    return (
      record.kind !== 'enrollment' &&
      record.status === 'interacting' &&
      declaresClarification(storedTokenRequestOf(record)) &&
      roundsOf(record) < MAX_CLARIFICATION_ROUNDS &&
      openQuestion(record) === undefined
    );
  }

  async function answer(
    record: PendingRecord,
    reply: ClarificationAnswer,
    request?: StoredTokenRequest,
  ): Promise<void> {
    const turns = record.clarification?.turns ?? [];
    const last = turns.at(-1)!;
    const clarification: ClarificationState = { turns: [...turns.slice(0, -1), { ...last, answer: reply }] };
    const written = await pending.store.writeClarification(record.id, {
      step: record.clarificationStep,
      clarification,
      ...(request === undefined ? {} : { request }),
    });
    // Another answer (or the person's decision) got there first.
    if (!written) throw new InvalidRequest('No clarification awaits an answer on this pending URL.');
  }

  async function updateRequest(record: PendingRecord, body: Record<string, unknown>): Promise<void> {
    const token = requireText(body.resource_token, 'resource_token', 16_384);
    const justification =
      body.justification === undefined
        ? undefined
        : requireText(body.justification, 'justification', MAX_JUSTIFICATION_LENGTH);
    const stored = storedTokenRequestOf(record);
    const plan = stored.plan as AuthTokenPlan;
    // Full §Resource Token Verification (steps 1–6) against the agent and key of the original request.
    const { claims } = await checkResourceToken(deps.resourceTokens, token, plan.agent, plan.cnfJkt);
    assertSameRequest(plan, claims, deps.resourceTokens.issuer);
    const { scope: _scope, account: _account, tenant: _tenant, ...kept } = plan;
    const next: AuthTokenPlan = {
      ...kept,
      resourceTokenJti: claims.jti,
      context: {
        ...plan.context,
        ...(justification === undefined ? {} : { justification }),
      },
      ...(claims.scope === undefined ? {} : { scope: claims.scope }),
      ...(claims.account === undefined ? {} : { account: claims.account }),
      ...(claims.tenant === undefined ? {} : { tenant: claims.tenant }),
    };
    await answer(
      record,
      {
        action: 'updated_request',
        answered_at: nowIso(),
        ...(justification === undefined ? {} : { justification }),
        ...(claims.scope === undefined ? {} : { scope: claims.scope }),
      },
      { ...stored, plan: next },
    );
  }

  return {
    canAsk,

    async ask(record, personId, question) {
      if (record.kind === 'enrollment' || !declaresClarification(storedTokenRequestOf(record))) {
        return 'not_supported';
      }
      if (record.status !== 'interacting') return 'not_open';
      if (roundsOf(record) >= MAX_CLARIFICATION_ROUNDS) return 'limit_reached';
      if (openQuestion(record) !== undefined) return 'awaiting_answer';
      const text = question.trim();
      if (text === '' || text.length > MAX_QUESTION_LENGTH) return 'invalid_question';
      const turns = record.clarification?.turns ?? [];
      const written = await pending.store.writeClarification(record.id, {
        step: record.clarificationStep,
        personId,
        clarification: { turns: [...turns, { question: text, asked_at: nowIso() }] },
      });
      return written ? 'asked' : 'not_open';
    },

    async respond(record, body) {
      if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        throw new InvalidRequest('The request body must be a JSON object.');
      }
      const members = body as Record<string, unknown>;
      let action = members.action;
      if (action === undefined && deps.acceptWithoutAction && members.clarification_response !== undefined) {
        action = 'clarification_response';
      }
      // §Agent Response to Clarification: "MUST reject a POST with a missing or unrecognized action".
      if (action === undefined) throw new InvalidRequest('action is required.');
      if (action !== 'clarification_response' && action !== 'updated_request') {
        throw new InvalidRequest('action is not a recognized value.');
      }
      if (record.status !== 'pending' && record.status !== 'interacting') {
        throw new Gone('This pending request has ended.');
      }
      if (action === 'updated_request' && record.kind !== 'auth_token') {
        throw new InvalidRequest('updated_request applies only to auth token requests.');
      }
      if (openQuestion(record) === undefined) {
        throw new InvalidRequest('No clarification awaits an answer on this pending URL.');
      }
      if (action === 'updated_request') return updateRequest(record, members);
      const text = requireText(
        members.clarification_response,
        'clarification_response',
        MAX_CLARIFICATION_RESPONSE_LENGTH,
      );
      await answer(record, { action: 'clarification_response', text, answered_at: nowIso() });
    },
  };
}
