import { type Capability, type Clock, InvalidRequest, isMissionS256 } from '@aauth-ref/core';
import { MAX_MISSION_TEXT_LENGTH } from './mission-service.js';
import type { PendingKind, PendingRecord, PendingService } from './pending-service.js';
import type { AgentBindingLookup, AgentRef, MissionLog, MissionLookup, MissionRecord } from './ports.js';
import { agentRefOf, assertMissionActive, type RequestingAgent } from './resource-token-check.js';

/**
 * What the three PS governance endpoints share (§PS Governance Endpoints): the members they have in
 * common, the mission check (§Mission Endpoint Errors, §Mission Status Errors: the same lookup as
 * every mission endpoint), who the person is, and the record every request and decision leaves
 * (§Mission Log inside a mission; the governance log outside one).
 */

/** The pending kinds the governance endpoints create; the person decides them on `/governance/:id`. */
export const GOVERNANCE_KINDS = [
  'permission',
  'interaction_relay',
  'question',
] as const satisfies readonly PendingKind[];

export type GovernanceKind = (typeof GOVERNANCE_KINDS)[number];

export function isGovernanceKind(kind: PendingKind): kind is GovernanceKind {
  return (GOVERNANCE_KINDS as readonly PendingKind[]).includes(kind);
}

/** One entry of the governance log (requests and decisions outside a mission). */
export interface GovernanceLogAppend {
  readonly agent: AgentRef;
  readonly personId?: string | null;
  readonly pendingId?: string;
  readonly kind: string;
  readonly detail: Readonly<Record<string, unknown>>;
}

/** What the governance services need from storage beyond the pending and mission stores. */
export interface GovernanceStore {
  appendLog(entry: GovernanceLogAppend, at: Date): Promise<void>;
  /** Shows an open request (still `pending`) to a person on their dashboard; no code is involved. */
  assignToPerson(id: string, personId: string): Promise<boolean>;
  /** Whether the person is signed in at this PS right now (a live web session). */
  hasLiveSession(personId: string, at: Date): Promise<boolean>;
  /** `interacting` (held by `personId`) → `approved` with the `200` body of the next poll. */
  approve(id: string, personId: string, result: unknown): Promise<boolean>;
  /** `pending` → `expired` (the next poll answers `408 expired`), when no one engaged in time. */
  expireUnengaged(id: string): Promise<boolean>;
  /** An open request → `approved` with `result`, whoever holds it (the PS resolves a relay itself). */
  resolve(id: string, result: unknown): Promise<boolean>;
  /** `pending` → `interacting` without a person's page visit (the person engaged elsewhere on this PS). */
  markEngaged(id: string, at: Date): Promise<boolean>;
}

export interface GovernanceDeps {
  readonly clock: Clock;
  readonly store: GovernanceStore;
  readonly pending: PendingService;
  readonly missions: MissionLookup & MissionLog;
  readonly bindings: AgentBindingLookup;
}

/** Bounds on what an agent may make the PS store and the person read. */
export const MAX_ACTION_LENGTH = 256;
export const MAX_JSON_MEMBER_BYTES = 16 * 1024;

export function requireBodyObject(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new InvalidRequest('The request body must be a JSON object.');
  }
  return body as Record<string, unknown>;
}

export function requireAction(value: unknown): string {
  if (value === undefined) throw new InvalidRequest('action is required.');
  if (typeof value !== 'string' || value.trim() === '') {
    throw new InvalidRequest('action must be a non-empty string.');
  }
  if (value.length > MAX_ACTION_LENGTH) throw new InvalidRequest('action is too long.');
  return value;
}

/** An OPTIONAL (or REQUIRED) Markdown member: a non-empty string the PS sanitizes when shown. */
export function markdownMember(value: unknown, name: string, required = false): string | undefined {
  if (value === undefined) {
    if (required) throw new InvalidRequest(`${name} is required.`);
    return undefined;
  }
  if (typeof value !== 'string' || value.trim() === '') {
    throw new InvalidRequest(`${name} must be a non-empty Markdown string.`);
  }
  if (value.length > MAX_MISSION_TEXT_LENGTH) throw new InvalidRequest(`${name} is too long.`);
  return value;
}

/** An OPTIONAL JSON object member (`parameters`, `result`), bounded in size. */
export function objectMember(value: unknown, name: string): Record<string, unknown> | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidRequest(`${name} must be a JSON object.`);
  }
  if (Buffer.byteLength(JSON.stringify(value), 'utf8') > MAX_JSON_MEMBER_BYTES) {
    throw new InvalidRequest(`${name} is too large.`);
  }
  return value as Record<string, unknown>;
}

/** `mission_s256`: a SHA-256 base64url digest when present. */
export function missionMember(value: unknown, required = false): string | undefined {
  if (value === undefined) {
    if (required) throw new InvalidRequest('mission_s256 is required.');
    return undefined;
  }
  if (!isMissionS256(value)) throw new InvalidRequest('mission_s256 is not a SHA-256 base64url digest.');
  return value;
}

/** Leaves out members whose value is `undefined` (plain JSON for the logs and stored requests). */
export function compact<T extends Record<string, unknown>>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export interface Governance {
  readonly deps: GovernanceDeps;
  now(): Date;
  /**
   * §Mission Endpoint Errors / §Mission Status Errors: one lookup by `(s256, this agent)`; unknown and
   * foreign are the same `404 mission_not_found`, the owner's ended mission `403 mission_terminated`.
   */
  activeMission(signer: RequestingAgent, s256: string | undefined): Promise<MissionRecord | undefined>;
  /** The person a request is for: the mission's, else the one the agent is bound to. */
  personFor(agent: AgentRef, mission: MissionRecord | undefined): Promise<string | undefined>;
  /** Records one request or decision: in the mission log when there is a mission, else the governance log. */
  record(input: {
    agent: AgentRef;
    missionS256?: string | undefined;
    personId?: string | null | undefined;
    pendingId?: string | undefined;
    kind: string;
    detail: Record<string, unknown>;
  }): Promise<void>;
  /** Creates the pending request shown to `personId` on their dashboard, or offering a code when unknown. */
  createPending(input: {
    kind: GovernanceKind;
    agent: AgentRef;
    request: unknown;
    personId: string | undefined;
  }): Promise<Awaited<ReturnType<PendingService['create']>>>;
}

export function createGovernance(deps: GovernanceDeps): Governance {
  const now = () => new Date(deps.clock.now());
  return {
    deps,
    now,
    async activeMission(signer, s256) {
      if (s256 === undefined) return undefined;
      return assertMissionActive(deps.missions, s256, now(), { agent: agentRefOf(signer) });
    },
    async personFor(agent, mission) {
      if (mission !== undefined) return mission.personId;
      return deps.bindings.findBoundPerson(agent);
    },
    async record({ agent, missionS256, personId, pendingId, kind, detail }) {
      const entry = compact({ ...detail, ...(pendingId === undefined ? {} : { pending_id: pendingId }) });
      if (missionS256 !== undefined) {
        await deps.missions.append(missionS256, { kind, detail: entry });
        return;
      }
      await deps.store.appendLog(
        {
          agent,
          ...(personId === undefined ? {} : { personId }),
          ...(pendingId === undefined ? {} : { pendingId }),
          kind,
          detail: entry,
        },
        now(),
      );
    },
    async createPending({ kind, agent, request, personId }) {
      const created = await deps.pending.create({
        kind,
        owner: { agentIss: agent.iss, agentSub: agent.sub, durableJkt: null },
        request,
        // A person the PS knows sees the request on their dashboard; otherwise the agent brings them
        // with a code to the PS's interaction page (§Interaction Required).
        interaction: personId === undefined,
      });
      if (personId !== undefined) await deps.store.assignToPerson(created.record.id, personId);
      return created;
    },
  };
}

/** The capabilities the agent declared: the `capabilities` member, else the mission's (§PS Token Endpoint). */
export function declaredCapabilities(
  fromBody: readonly Capability[] | undefined,
  mission: MissionRecord | undefined,
): readonly Capability[] {
  return fromBody ?? ((mission?.capabilities ?? []) as readonly Capability[]);
}

/** An open governance request the person may decide: theirs, not ended, not past its expiry. */
export function isOpenFor(record: PendingRecord | undefined, personId: string, at: Date): boolean {
  return (
    record !== undefined &&
    isGovernanceKind(record.kind) &&
    record.personId === personId &&
    record.terminalAt === null &&
    (record.status === 'pending' || record.status === 'interacting') &&
    at < record.expiresAt
  );
}
