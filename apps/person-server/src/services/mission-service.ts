import {
  AAuthError,
  type Capability,
  type Clock,
  computeMissionS256,
  encodeMission,
  type IdentifierPolicy,
  InvalidRequest,
  isServerIdentifier,
  type PublicJwk,
} from '@aauth-ref/core';
import type { PersonTokenService } from './person-token-service.js';
import type {
  AgentRef,
  MissionLog,
  MissionLogAppend,
  MissionLookup,
  MissionOwnerFilter,
  MissionRecord,
  MissionTerminationReason,
} from './ports.js';
import {
  agentRefOf,
  assertMissionActive,
  assertNotSubAgent,
  type RequestingAgent,
} from './resource-token-check.js';
import { parseCapabilitiesMember } from './token-request-params.js';

/**
 * Missions (§Mission): the proposal at `mission_endpoint` and the person's decision on it
 * (§Mission Creation, §Mission Approval), updates and completion at `{mission_endpoint}/{s256}`
 * (§Mission Update, §Mission Completion), and termination (§Mission Management). The blob is built
 * once, as bytes, and those bytes are what is hashed, stored, returned and shown (§Mission
 * Identifier); nothing re-serializes it afterwards.
 */

/** §Mission Creation: a tool the agent wants to use. */
export interface MissionTool {
  readonly name: string;
  readonly description: string;
}

export interface MissionProposal {
  /** Markdown. */
  readonly description: string;
  readonly tools?: readonly MissionTool[];
  readonly resources?: readonly string[];
  /**
   * Extension member (README, *Missions*): what the agent can handle, stored with the mission and used
   * when a later token request omits `capabilities` (§PS Token Endpoint).
   */
  readonly capabilities?: readonly Capability[];
}

/** Everything decided before the person's answer, as plain JSON (kept with the pending request). */
export interface MissionProposalPlan {
  readonly agent: AgentRef;
  /** The key the mission's person tokens bind: the signer's. */
  readonly cnfJwk: PublicJwk;
  readonly cnfJkt: string;
  /** NumericDates the person tokens must not outlive (the agent token's `exp`). */
  readonly notAfter: readonly number[];
  /** The person the agent is bound to, if any (else the approving person binds it). */
  readonly personId?: string;
  readonly proposal: MissionProposal;
}

/** What the person approved on the review page: possibly an edited description, narrowed lists. */
export interface MissionDecision {
  readonly description: string;
  /** Names of the proposed tools the person kept. */
  readonly toolNames: readonly string[];
  /** The proposed resources the person kept. */
  readonly resources: readonly string[];
  readonly expiresAt?: Date;
}

/** §Mission Approval: the `200` body of the proposal's pending URL. */
export interface MissionApprovalResponse {
  readonly s256: string;
  readonly mission: string;
  readonly capabilities: readonly Capability[];
  readonly person_tokens?: Readonly<Record<string, string>>;
}

/**
 * An update the person reviews (kept with the pending request): the PS judged that it widens the
 * mission (`updateNeedsReview`).
 */
export interface UpdatePlan {
  readonly missionS256: string;
  readonly agent: AgentRef;
  /** Markdown. */
  readonly description: string;
  /** Why the person is asked: the origins the update names that the person did not approve. */
  readonly unapprovedResources: readonly string[];
}

/** `action: update`: accepted at once (`200 {s256}`) or left to the person (`202`). */
export type UpdateOutcome =
  | { readonly accepted: { readonly s256: string } }
  | { readonly review: UpdatePlan; readonly mission: MissionRecord };

/** The clarification turns of a review, recorded in the mission log (§Mission Log). */
export type ReviewChat = readonly unknown[];

/** A completion the person reviews (kept with the pending request). */
export interface CompletionPlan {
  readonly missionS256: string;
  readonly agent: AgentRef;
  /** Markdown. */
  readonly summary: string;
}

export interface NewMission {
  readonly s256: string;
  readonly blob: Uint8Array;
  readonly agent: AgentRef;
  readonly personId: string;
  readonly approvedAt: Date;
  readonly expiresAt?: Date;
  readonly description: string;
  readonly approvedTools?: readonly MissionTool[];
  readonly approvedResources?: readonly string[];
  readonly capabilities?: readonly Capability[];
  readonly firstEntry: MissionLogAppend;
}

export interface MissionRecordFull extends MissionRecord {
  readonly agentIss: string;
  readonly blob: Uint8Array;
  readonly description: string;
  readonly approvedAt: Date;
  readonly terminatedAt: Date | null;
}

export interface MissionLogView {
  readonly id: string;
  readonly kind: string;
  readonly detail: Readonly<Record<string, unknown>>;
  readonly s256?: string;
  readonly blob?: Uint8Array;
  readonly createdAt: Date;
}

export interface MissionView extends MissionRecordFull {
  readonly log: readonly MissionLogView[];
}

export interface MissionStore extends MissionLookup, MissionLog {
  /** Like `MissionLookup.terminate`, limited to one person's missions when `personId` is given. */
  terminate(s256: string, reason: MissionTerminationReason, at: Date, personId?: string): Promise<boolean>;
  /** Inserts the mission and its first log entry together. */
  insert(mission: NewMission): Promise<void>;
  findFull(s256: string, owner: MissionOwnerFilter): Promise<MissionRecordFull | undefined>;
  /** The person's missions, newest first, each with its log in order. */
  listForPerson(personId: string): Promise<MissionView[]>;
}

export interface MissionServiceDeps {
  readonly clock: Clock;
  /** This PS: the blob's `approver`. */
  readonly issuer: string;
  readonly identifierPolicy: IdentifierPolicy;
  readonly store: MissionStore;
  readonly bindings: { findBoundPerson(agent: AgentRef): Promise<string | undefined> };
  readonly personTokens: PersonTokenService;
  /** Revokes the tokens issued under a mission and notifies their resources (§Token Revocation). */
  readonly revokeMissionTokens: (personId: string, s256: string) => Promise<void>;
}

export interface MissionService {
  /** `POST {mission_endpoint}`: validates the proposal; the person decides on it. */
  propose(signer: RequestingAgent, body: unknown): Promise<MissionProposalPlan>;
  /** The person approved (the platform has bound the agent to them). Builds, stores and returns the mission. */
  approve(
    plan: MissionProposalPlan,
    personId: string,
    decision: MissionDecision,
  ): Promise<MissionApprovalResponse>;
  /**
   * `action: update`: accepted on the PS's own judgement (returns the update's own `s256`), or, when it
   * names resources the person did not approve, a plan the person reviews.
   */
  update(signer: RequestingAgent, s256: string, description: unknown): Promise<UpdateOutcome>;
  /** The person accepted a reviewed update: appended to the log; its `s256`. Undefined when the mission ended. */
  acceptUpdate(plan: UpdatePlan, personId: string, chat: ReviewChat): Promise<{ s256: string } | undefined>;
  /** The person declined a reviewed update: logged; the mission and its meaning are unchanged. */
  declineUpdate(plan: UpdatePlan, personId: string, chat: ReviewChat): Promise<boolean>;
  /** `action: completion`: the mission (active, this agent's) and the plan the person reviews. */
  proposeCompletion(
    signer: RequestingAgent,
    s256: string,
    summary: unknown,
  ): Promise<{ plan: CompletionPlan; mission: MissionRecord }>;
  /** The person accepted the completion: terminated as `completed`. False when it was no longer active. */
  acceptCompletion(plan: CompletionPlan, personId: string, chat?: ReviewChat): Promise<boolean>;
  /**
   * The person did not accept the completion (§Mission Completion: follow-up questions "leaving the
   * mission active"): logged, the mission stays active. False when it was no longer active.
   */
  declineCompletion(plan: CompletionPlan, personId: string, chat?: ReviewChat): Promise<boolean>;
  /** The person revoked the mission: terminated as `revoked`, its tokens revoked. False when not theirs or not active. */
  revoke(personId: string, s256: string): Promise<boolean>;
}

/** Bounds on what an agent may make the person read (the Markdown renderer's own limit). */
export const MAX_MISSION_TEXT_LENGTH = 20_000;
const MAX_TOOLS = 64;
const MAX_TOOL_NAME_LENGTH = 128;
const MAX_TOOL_DESCRIPTION_LENGTH = 2000;
const MAX_RESOURCES = 32;

/** The `action` values of a mission's own URL (§Mission). */
export type MissionAction = 'update' | 'completion';

/** §Mission: "MUST reject a request with a missing or unrecognized `action` with `400`". */
export function parseMissionAction(body: unknown): {
  action: MissionAction;
  members: Record<string, unknown>;
} {
  const members = requireObject(body);
  const { action } = members;
  if (action === undefined) throw new InvalidRequest('action is required.');
  if (action !== 'update' && action !== 'completion') {
    throw new InvalidRequest('action is not a recognized value.');
  }
  return { action, members };
}

function requireObject(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new InvalidRequest('The request body must be a JSON object.');
  }
  return body as Record<string, unknown>;
}

function requireText(value: unknown, name: string, max: number): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new InvalidRequest(`${name} must be a non-empty string.`);
  }
  if (value.length > max) throw new InvalidRequest(`${name} is too long.`);
  return value;
}

function parseTools(value: unknown): MissionTool[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.length > MAX_TOOLS) {
    throw new InvalidRequest(`tools must be an array of at most ${MAX_TOOLS} tool objects.`);
  }
  const names = new Set<string>();
  return value.map((item) => {
    // §Mission Creation: each tool is an object with `name` and `description`.
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      throw new InvalidRequest('Each tool must be an object with name and description.');
    }
    const tool = item as Record<string, unknown>;
    const name = requireText(tool.name, 'tool name', MAX_TOOL_NAME_LENGTH);
    const description = requireText(tool.description, 'tool description', MAX_TOOL_DESCRIPTION_LENGTH);
    if (names.has(name)) throw new InvalidRequest('Tool names must be unique.');
    names.add(name);
    return { name, description };
  });
}

function parseResources(value: unknown, policy: IdentifierPolicy): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.length > MAX_RESOURCES) {
    throw new InvalidRequest(`resources must be an array of at most ${MAX_RESOURCES} server identifiers.`);
  }
  for (const item of value) {
    if (!isServerIdentifier(item, policy)) {
      throw new InvalidRequest('resources must hold server identifiers (https, host only, lowercase).');
    }
  }
  return [...new Set(value as string[])];
}

/** §Mission Creation proposal members. Throws `InvalidRequest`. */
export function parseMissionProposal(body: unknown, policy: IdentifierPolicy): MissionProposal {
  const members = requireObject(body);
  const description = requireText(members.description, 'description', MAX_MISSION_TEXT_LENGTH);
  const tools = parseTools(members.tools);
  const resources = parseResources(members.resources, policy);
  const capabilities = parseCapabilitiesMember(members.capabilities);
  return {
    description,
    ...(tools === undefined ? {} : { tools }),
    ...(resources === undefined ? {} : { resources }),
    ...(capabilities === undefined ? {} : { capabilities }),
  };
}

/** `http(s)://host[:port]` origins named in a text (Markdown links and bare URLs alike). */
function originsIn(text: string): string[] {
  const origins = new Set<string>();
  for (const match of text.matchAll(/\bhttps?:\/\/[^\s<>()[\]"'`]+/gi)) {
    try {
      origins.add(new URL(match[0]).origin);
    } catch {
      // Not a URL after all: nothing to compare.
    }
  }
  return [...origins];
}

/**
 * The PS's judgement on an update (§Mission Update: "Both require the person's acceptance when the PS
 * decides the change warrants it"; docs/spec-decisions.md, *Mission update review*): an update that
 * names a server (an `http(s)` origin) the person did not approve for this mission widens it, and the
 * person reviews it; any other update is accepted at once. Returns the origins that need the person.
 */
export function updateNeedsReview(description: string, approvedResources: readonly string[]): string[] {
  const approved = new Set(approvedResources);
  return originsIn(description).filter((origin) => !approved.has(origin));
}

function approvedResourcesOf(blob: Uint8Array): string[] {
  const parsed = JSON.parse(new TextDecoder().decode(blob)) as { approved_resources?: unknown };
  return Array.isArray(parsed.approved_resources)
    ? parsed.approved_resources.filter((r): r is string => typeof r === 'string')
    : [];
}

/** ISO 8601 in UTC, as the blob's timestamps are written. */
function isoOf(date: Date): string {
  return date.toISOString();
}

const UTF8 = new TextEncoder();

/**
 * What the PS can provide for the person now (§Mission Approval `capabilities`): the person has just
 * approved in a signed-in session, and this PS shows pending reviews on its own pages, so it can bring
 * them to an interaction. Nothing else (no payment channel) is offered.
 */
export const PS_CAPABILITIES: readonly Capability[] = ['interaction'];

export function createMissionService(deps: MissionServiceDeps): MissionService {
  const now = () => new Date(deps.clock.now());

  /** Appends an accepted update with its own bytes, persisted as hashed (§Mission Update). */
  async function appendUpdate(s256: string, text: string, by: 'ps' | 'person'): Promise<{ s256: string }> {
    const bytes = UTF8.encode(
      JSON.stringify({ mission_s256: s256, description: text, accepted_at: isoOf(now()) }),
    );
    const updateS256 = computeMissionS256(bytes);
    await deps.store.append(s256, {
      kind: 'update',
      detail: { description: text, accepted_by: by },
      s256: updateS256,
      blob: bytes,
    });
    return { s256: updateS256 };
  }

  /** §Mission Log: clarification chats are part of the record. */
  async function logChat(s256: string, about: 'update' | 'completion', chat: ReviewChat): Promise<void> {
    if (chat.length === 0) return;
    await deps.store.append(s256, { kind: 'clarification', detail: { about, turns: chat } });
  }

  return {
    async propose(signer, body) {
      assertNotSubAgent(signer);
      const proposal = parseMissionProposal(body, deps.identifierPolicy);
      const agent = agentRefOf(signer);
      const personId = await deps.bindings.findBoundPerson(agent);
      return {
        agent,
        cnfJwk: signer.claims.cnf.jwk,
        cnfJkt: signer.keyThumbprint,
        notAfter: [signer.claims.exp],
        proposal,
        ...(personId === undefined ? {} : { personId }),
      };
    },

    async approve(plan, personId, decision) {
      const { proposal } = plan;
      const description = requireText(decision.description, 'description', MAX_MISSION_TEXT_LENGTH);
      // The person narrows; nothing outside the proposal can be approved here.
      const tools = proposal.tools?.filter((tool) => decision.toolNames.includes(tool.name));
      const resources = proposal.resources?.filter((resource) => decision.resources.includes(resource));
      const approvedAt = now();
      if (decision.expiresAt !== undefined && decision.expiresAt.getTime() <= approvedAt.getTime()) {
        throw new InvalidRequest('expires_at must be in the future.');
      }
      // §Mission Approval member order as in the specification's example; the bytes are final here.
      const blob: Record<string, unknown> = {
        approver: deps.issuer,
        agent: plan.agent.sub,
        approved_at: isoOf(approvedAt),
      };
      if (decision.expiresAt !== undefined) blob.expires_at = isoOf(decision.expiresAt);
      blob.description = description;
      if (tools !== undefined) blob.approved_tools = tools;
      if (resources !== undefined) blob.approved_resources = resources;
      const bytes = UTF8.encode(JSON.stringify(blob));
      const s256 = computeMissionS256(bytes);
      await deps.store.insert({
        s256,
        blob: bytes,
        agent: plan.agent,
        personId,
        approvedAt,
        description,
        ...(decision.expiresAt === undefined ? {} : { expiresAt: decision.expiresAt }),
        ...(tools === undefined ? {} : { approvedTools: tools }),
        ...(resources === undefined ? {} : { approvedResources: resources }),
        ...(proposal.capabilities === undefined ? {} : { capabilities: proposal.capabilities }),
        firstEntry: {
          kind: 'approved',
          detail: {
            proposal: {
              description: proposal.description,
              ...(proposal.tools ? { tools: proposal.tools } : {}),
              ...(proposal.resources ? { resources: proposal.resources } : {}),
            },
            description_edited: description !== proposal.description,
          },
        },
      });

      const response: { -readonly [K in keyof MissionApprovalResponse]: MissionApprovalResponse[K] } = {
        s256,
        mission: encodeMission(bytes),
        capabilities: PS_CAPABILITIES,
      };
      if (proposal.resources !== undefined) {
        const personTokens: Record<string, string> = {};
        for (const resource of resources ?? []) {
          try {
            const issued = await deps.personTokens.completePersonToken(
              {
                resource,
                agent: plan.agent,
                cnfJwk: plan.cnfJwk,
                cnfJkt: plan.cnfJkt,
                notAfter: plan.notAfter,
                personId,
                missionS256: s256,
                missionOwner: { agent: plan.agent, personId },
              },
              { personId },
            );
            personTokens[resource] = issued.personToken;
          } catch (err) {
            // §Mission Approval: "A PS MAY omit a resource it declines to issue for" (e.g. the agent
            // token expired while the person reviewed); the agent asks for it later.
            if (!(err instanceof AAuthError)) throw err;
            await deps.store.append(s256, {
              kind: 'person_token',
              detail: { resource, decision: 'not_issued', error: err.error },
            });
          }
        }
        response.person_tokens = personTokens;
      }
      return response;
    },

    async update(signer, s256, description) {
      const agent = agentRefOf(signer);
      const mission = await assertMissionActive(deps.store, s256, now(), { agent });
      const text = requireText(description, 'description', MAX_MISSION_TEXT_LENGTH);
      const full = await deps.store.findFull(s256, { agent });
      const unapproved = updateNeedsReview(text, full ? approvedResourcesOf(full.blob) : []);
      if (unapproved.length > 0) {
        await deps.store.append(s256, {
          kind: 'update_proposed',
          detail: { description: text, unapproved_resources: unapproved },
        });
        return {
          review: { missionS256: s256, agent, description: text, unapprovedResources: unapproved },
          mission,
        };
      }
      return { accepted: await appendUpdate(s256, text, 'ps') };
    },

    async acceptUpdate(plan, personId, chat) {
      const mission = await deps.store.findMission(plan.missionS256, { personId });
      if (mission?.status !== 'active') return undefined;
      await logChat(plan.missionS256, 'update', chat);
      return appendUpdate(plan.missionS256, plan.description, 'person');
    },

    async declineUpdate(plan, personId, chat) {
      const mission = await deps.store.findMission(plan.missionS256, { personId });
      if (mission?.status !== 'active') return false;
      await logChat(plan.missionS256, 'update', chat);
      await deps.store.append(plan.missionS256, {
        kind: 'update_declined',
        detail: { description: plan.description },
      });
      return true;
    },

    async proposeCompletion(signer, s256, summary) {
      const agent = agentRefOf(signer);
      const mission = await assertMissionActive(deps.store, s256, now(), { agent });
      const text = requireText(summary, 'summary', MAX_MISSION_TEXT_LENGTH);
      await deps.store.append(s256, { kind: 'completion_proposed', detail: { summary: text } });
      return { plan: { missionS256: s256, agent, summary: text }, mission };
    },

    async acceptCompletion(plan, personId, chat = []) {
      const mission = await deps.store.findMission(plan.missionS256, { personId });
      if (mission?.status !== 'active') return false;
      await logChat(plan.missionS256, 'completion', chat);
      return deps.store.terminate(plan.missionS256, 'completed', now(), personId);
    },

    async declineCompletion(plan, personId, chat = []) {
      const mission = await deps.store.findMission(plan.missionS256, { personId });
      if (mission?.status !== 'active') return false;
      await logChat(plan.missionS256, 'completion', chat);
      await deps.store.append(plan.missionS256, {
        kind: 'completion_declined',
        detail: { summary: plan.summary },
      });
      return true;
    },

    async revoke(personId, s256) {
      if (!(await deps.store.terminate(s256, 'revoked', now(), personId))) return false;
      await deps.revokeMissionTokens(personId, s256);
      return true;
    },
  };
}
