import {
  type AAuthRequirement,
  InteractionUnavailable,
  InvalidRequest,
  UserUnreachable,
} from '@aauth-ref/core';
import {
  compact,
  declaredCapabilities,
  type Governance,
  markdownMember,
  missionMember,
  requireBodyObject,
} from './governance.js';
import type { PendingRecord } from './pending-service.js';
import type { AgentRef } from './ports.js';
import { agentRefOf, type RequestingAgent } from './resource-token-check.js';
import { parseCapabilitiesMember } from './token-request-params.js';

/**
 * §Interaction Endpoint: the agent reaches the person through the PS.
 *
 * - `interaction` / `payment` (§Relaying Through the Person Server): the PS's channel is its own
 *   dashboard. It relays only when it knows the person (the mission's, else the agent's bound person)
 *   AND that person is signed in here right now; otherwise `424 interaction_unavailable` and the agent
 *   directs the person itself. The person opens the relay on the dashboard (engaged: polls report
 *   `interacting`), follows the link `{url}?code={code}` and marks it done (`200 {"relay":"done"}`) or
 *   declines it (`403 denied`). `max_wait` elapsing (without one: the pending lifetime) resolves the
 *   relay: `200 {"relay":"engaged"}` once the person engaged, else `408 expired` (§Interaction
 *   Response). The resource's pending URL stays authoritative for completion. A relay of this PS's
 *   own interaction URL follows that request instead: `interacting` once its code was opened,
 *   `200 {"relay":"done"}` once it was decided (the PS's answer is then authoritative).
 * - `question`: shown to the person, whose answer is the `200 {"answer"}`; declining is `403 denied`.
 *   A person the PS does not know, with an agent that cannot bring them, is `403 user_unreachable`.
 */

export type InteractionType = 'interaction' | 'payment' | 'question';

/** A relayed `interaction` / `payment` (kept with the pending request, plain JSON). */
export interface RelayPlan {
  readonly agent: AgentRef;
  readonly type: 'interaction' | 'payment';
  readonly description?: string;
  readonly url: string;
  readonly code: string;
  readonly missionS256?: string;
  /** Epoch milliseconds after which the relay resolves (`max_wait`). */
  readonly maxWaitAt?: number;
}

export interface QuestionPlan {
  readonly agent: AgentRef;
  readonly type: 'question';
  readonly description?: string;
  readonly question: string;
  readonly missionS256?: string;
}

export interface DeferredInteraction {
  readonly id: string;
  readonly kind: 'interaction_relay' | 'question';
  readonly retryAfter: number;
  readonly requirement: AAuthRequirement;
}

export type RelayResult = { readonly relay: 'done' | 'engaged' };

export interface InteractionRelayService {
  request(signer: RequestingAgent, body: unknown): Promise<DeferredInteraction>;
  /** The person opened the request on the PS (engaged); false if it is no longer open. */
  engage(record: PendingRecord, personId: string): Promise<boolean>;
  /** The person finished at the resource's page. */
  markDone(record: PendingRecord, personId: string): Promise<boolean>;
  /** The person answered the question. */
  answer(record: PendingRecord, personId: string, text: string): Promise<boolean>;
  /** The person declined the relay or the question: the next poll is `403 denied`. */
  decline(record: PendingRecord, personId: string): Promise<boolean>;
  /**
   * Before a relay poll is answered (§Interaction Response): a relay of this PS's own interaction
   * follows that request (engaged when its code was opened, done once it was decided); `max_wait` —
   * or, without one, the pending request's lifetime — resolves it.
   */
  settleRelay(record: PendingRecord): Promise<void>;
}

export const MAX_URL_LENGTH = 2048;
const CODE_PATTERN = /^[0-9A-Za-z-]{1,64}$/;
/** The person's answer to a question (Markdown, shown back to them sanitized). */
export const MAX_ANSWER_LENGTH = 4000;

/**
 * §Interaction Required: `url` "MUST use the `https` scheme and MUST NOT contain query or fragment
 * components". Development mode also admits `http` on loopback (ARCHITECTURE.md, *Configuration*).
 */
export function isRelayableUrl(value: unknown, devMode: boolean): value is string {
  if (typeof value !== 'string' || value.length > MAX_URL_LENGTH) return false;
  if (value.includes('?') || value.includes('#')) return false;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') return false;
  if (url.protocol === 'https:') return true;
  return (
    devMode &&
    url.protocol === 'http:' &&
    (url.hostname === 'localhost' || url.hostname === '127.0.0.1' || url.hostname === '[::1]')
  );
}

/** §Interaction Code Format: Crockford base32 with optional hyphens; anything else is not relayed. */
export function isRelayableCode(value: unknown): value is string {
  return typeof value === 'string' && CODE_PATTERN.test(value);
}

/** The link the person follows: `{url}?code={code}` (§Relaying Through the Person Server). */
export function relayLink(plan: RelayPlan, devMode: boolean): string | undefined {
  if (!isRelayableUrl(plan.url, devMode) || !isRelayableCode(plan.code)) return undefined;
  const url = new URL(plan.url);
  url.searchParams.set('code', plan.code);
  return url.href;
}

function parseType(value: unknown): InteractionType {
  if (value === undefined) throw new InvalidRequest('type is required.');
  if (value !== 'interaction' && value !== 'payment' && value !== 'question') {
    throw new InvalidRequest('type must be interaction, payment or question.');
  }
  return value;
}

function parseMaxWait(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new InvalidRequest('max_wait must be a non-negative integer number of seconds.');
  }
  return value;
}

export interface InteractionRelayOptions {
  readonly devMode: boolean;
  /** This PS's own interaction page (`{issuer}/interaction`): a relay of it is followed here. */
  readonly interactionUrl: string;
}

export function createInteractionRelayService(
  governance: Governance,
  options: InteractionRelayOptions,
): InteractionRelayService {
  const { deps } = governance;

  async function recordOutcome(
    record: PendingRecord,
    personId: string | null,
    outcome: string,
    extra: Record<string, unknown> = {},
  ) {
    const { plan } = record.request as { plan: RelayPlan | QuestionPlan };
    await governance.record({
      agent: plan.agent,
      missionS256: plan.missionS256,
      personId,
      pendingId: record.id,
      kind: 'interaction_response',
      detail: { type: plan.type, outcome, ...extra },
    });
  }

  return {
    async request(signer, body) {
      const members = requireBodyObject(body);
      const type = parseType(members.type);
      const description = markdownMember(members.description, 'description');
      const missionS256 = missionMember(members.mission_s256);
      const capabilities = parseCapabilitiesMember(members.capabilities);
      let relay: { url: string; code: string; maxWait: number | undefined } | undefined;
      let question: string | undefined;
      if (type === 'question') {
        question = markdownMember(members.question, 'question', true);
      } else {
        if (!isRelayableUrl(members.url, options.devMode)) {
          throw new InvalidRequest('url must be an https URL without query or fragment.');
        }
        if (!isRelayableCode(members.code)) {
          throw new InvalidRequest('code must be an interaction code (Crockford base32, hyphens allowed).');
        }
        relay = { url: members.url, code: members.code, maxWait: parseMaxWait(members.max_wait) };
      }
      const agent = agentRefOf(signer);
      const mission = await governance.activeMission(signer, missionS256);
      const personId = await governance.personFor(agent, mission);
      // The code is a correlation value for the person's browser: it is not written to any log.
      const requestDetail = compact({
        type,
        description,
        url: relay?.url,
        max_wait: relay?.maxWait,
        question,
      });

      if (relay !== undefined) {
        const reachable =
          personId !== undefined && (await deps.store.hasLiveSession(personId, governance.now()));
        if (!reachable) {
          await governance.record({
            agent,
            missionS256: mission?.s256,
            personId: personId ?? null,
            kind: 'interaction_request',
            detail: { ...requestDetail, error: 'interaction_unavailable' },
          });
          throw new InteractionUnavailable(
            'The Person Server has no channel to the person right now; direct them to the url and code yourself.',
          );
        }
        const plan: RelayPlan = compact({
          agent,
          type: type as 'interaction' | 'payment',
          description,
          url: relay.url,
          code: relay.code,
          missionS256: mission?.s256,
          maxWaitAt: relay.maxWait === undefined ? undefined : deps.clock.now() + relay.maxWait * 1000,
        }) as RelayPlan;
        const created = await governance.createPending({
          kind: 'interaction_relay',
          agent,
          request: { plan },
          personId,
        });
        await governance.record({
          agent,
          missionS256: mission?.s256,
          personId: personId ?? null,
          pendingId: created.record.id,
          kind: 'interaction_request',
          detail: requestDetail,
        });
        return {
          id: created.record.id,
          kind: 'interaction_relay',
          retryAfter: created.record.retryAfter,
          requirement: { requirement: 'approval' },
        };
      }

      if (personId === undefined && !declaredCapabilities(capabilities, mission).includes('interaction')) {
        await governance.record({
          agent,
          kind: 'interaction_request',
          detail: { ...requestDetail, error: 'user_unreachable' },
        });
        throw new UserUnreachable(
          'This agent is not connected to a person here and did not declare the interaction capability.',
        );
      }
      const plan: QuestionPlan = compact({
        agent,
        type: 'question' as const,
        description,
        question: question as string,
        missionS256: mission?.s256,
      }) as QuestionPlan;
      const created = await governance.createPending({
        kind: 'question',
        agent,
        request: { plan },
        personId,
      });
      await governance.record({
        agent,
        missionS256: mission?.s256,
        personId: personId ?? null,
        pendingId: created.record.id,
        kind: 'interaction_request',
        detail: requestDetail,
      });
      return {
        id: created.record.id,
        kind: 'question',
        retryAfter: created.record.retryAfter,
        requirement: created.requirement ?? { requirement: 'approval' },
      };
    },

    async engage(record, personId) {
      if (record.status === 'interacting') return true;
      if (!(await deps.pending.consumeCode(record, personId, null))) return false;
      if (record.kind === 'interaction_relay') await recordOutcome(record, personId, 'engaged');
      return true;
    },

    async markDone(record, personId) {
      if (record.kind !== 'interaction_relay') return false;
      const result: RelayResult = { relay: 'done' };
      if (!(await deps.store.approve(record.id, personId, result))) return false;
      await recordOutcome(record, personId, 'done');
      return true;
    },

    async answer(record, personId, text) {
      if (record.kind !== 'question') return false;
      if (!(await deps.store.approve(record.id, personId, { answer: text }))) return false;
      await recordOutcome(record, personId, 'answered', { answer: text });
      return true;
    },

    async decline(record, personId) {
      if (!(await deps.pending.deny(record, personId))) return false;
      await recordOutcome(record, personId, 'declined');
      return true;
    },

    async settleRelay(record) {
      if (record.kind !== 'interaction_relay' || record.terminalAt !== null) return;
      if (record.status !== 'pending' && record.status !== 'interacting') return;
      const { plan } = record.request as { plan: RelayPlan };
      let status = record.status;
      if (plan.url === options.interactionUrl) {
        // §Interaction Response: "When the interaction URL is hosted by the PS itself, the PS's
        // deferred response is authoritative for completion". Only this agent's own request counts.
        const found = await deps.pending.lookupCode(plan.code);
        const own =
          (found.kind === 'consumed' || found.kind === 'expired') &&
          found.record.owner.agentIss === plan.agent.iss &&
          found.record.owner.agentSub === plan.agent.sub
            ? found.record
            : undefined;
        if (own !== undefined) {
          const decided =
            own.terminalAt !== null || (own.status !== 'pending' && own.status !== 'interacting');
          if (decided) {
            const result: RelayResult = { relay: 'done' };
            if (await deps.store.resolve(record.id, result)) {
              await recordOutcome(record, record.personId, 'done', { followed: 'ps_interaction' });
            }
            return;
          }
          if (own.status === 'interacting' && status === 'pending') {
            if (await deps.store.markEngaged(record.id, governance.now())) {
              await recordOutcome(record, record.personId, 'engaged', { followed: 'ps_interaction' });
              status = 'interacting';
            }
          }
        }
      }
      const deadline = plan.maxWaitAt ?? record.expiresAt.getTime();
      if (deps.clock.now() < deadline) return;
      if (status === 'interacting') {
        // The person engaged and the PS has done all it can: the resource's pending URL decides.
        const result: RelayResult = { relay: 'engaged' };
        if (await deps.store.resolve(record.id, result)) {
          await recordOutcome(record, record.personId, 'max_wait_engaged');
        }
      } else {
        if (await deps.store.expireUnengaged(record.id)) {
          await recordOutcome(record, record.personId, 'max_wait_expired');
        }
      }
    },
  };
}
