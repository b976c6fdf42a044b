import { type AAuthRequirement, UserUnreachable } from '@aauth-ref/core';
import {
  compact,
  declaredCapabilities,
  type Governance,
  markdownMember,
  missionMember,
  objectMember,
  requireAction,
  requireBodyObject,
} from './governance.js';
import type { MissionStore } from './mission-service.js';
import type { PendingRecord } from './pending-service.js';
import type { AgentRef } from './ports.js';
import { agentRefOf, type RequestingAgent } from './resource-token-check.js';
import { parseCapabilitiesMember } from './token-request-params.js';

/**
 * §Permission Endpoint: the agent asks before an action no resource governs. A tool the mission's
 * approval lists in `approved_tools` is granted at once; anything else is put to the person, who
 * grants or denies it on the PS's page. Both answers are `200` (`granted`, or `denied` with an
 * optional Markdown `reason`); every request and answer is recorded.
 */

/** The `200` body (§Permission Response). */
export type PermissionAnswer =
  | { readonly permission: 'granted' }
  | { readonly permission: 'denied'; readonly reason?: string };

/** What the person decides on (kept with the pending request, plain JSON). */
export interface PermissionPlan {
  readonly agent: AgentRef;
  readonly action: string;
  readonly description?: string;
  readonly parameters?: Record<string, unknown>;
  readonly missionS256?: string;
}

export type PermissionOutcome =
  | { readonly kind: 'answered'; readonly answer: PermissionAnswer }
  | {
      readonly kind: 'deferred';
      readonly record: PendingRecord['id'];
      readonly retryAfter: number;
      /** `approval` when the person sees it on their dashboard; `interaction` with a code otherwise. */
      readonly requirement: AAuthRequirement;
    };

export interface PermissionService {
  request(signer: RequestingAgent, body: unknown): Promise<PermissionOutcome>;
  /** The person's decision: the answer the next poll returns. False when the request is no longer open. */
  decide(record: PendingRecord, personId: string, answer: PermissionAnswer): Promise<boolean>;
}

/** Maximum length of the person's reason for a denial (Markdown). */
export const MAX_REASON_LENGTH = 2000;

/** The tool names of the approved blob (§Mission Approval `approved_tools`): the exact approved bytes. */
function approvedToolNames(blob: Uint8Array): string[] {
  const parsed = JSON.parse(new TextDecoder().decode(blob)) as { approved_tools?: unknown };
  if (!Array.isArray(parsed.approved_tools)) return [];
  return parsed.approved_tools
    .map((tool) => (tool as { name?: unknown }).name)
    .filter((name): name is string => typeof name === 'string');
}

export function createPermissionService(governance: Governance, missions: MissionStore): PermissionService {
  const { deps } = governance;
  return {
    async request(signer, body) {
      // Every member is checked before anything about a mission is read (§Mission Endpoint Errors).
      const members = requireBodyObject(body);
      const action = requireAction(members.action);
      const description = markdownMember(members.description, 'description');
      const parameters = objectMember(members.parameters, 'parameters');
      const missionS256 = missionMember(members.mission_s256);
      const capabilities = parseCapabilitiesMember(members.capabilities);
      const agent = agentRefOf(signer);
      const mission = await governance.activeMission(signer, missionS256);
      const requestDetail = compact({ action, description, parameters });

      if (mission !== undefined) {
        // The mission is this agent's and active: its approved bytes say which tools need no prompt.
        const full = await missions.findFull(mission.s256, { agent });
        if (full !== undefined && approvedToolNames(full.blob).includes(action)) {
          await governance.record({
            agent,
            missionS256: mission.s256,
            kind: 'permission_request',
            detail: requestDetail,
          });
          await governance.record({
            agent,
            missionS256: mission.s256,
            kind: 'permission_response',
            detail: { action, permission: 'granted', decided_by: 'approved_tools' },
          });
          return { kind: 'answered', answer: { permission: 'granted' } };
        }
      }

      const personId = await governance.personFor(agent, mission);
      if (personId === undefined && !declaredCapabilities(capabilities, mission).includes('interaction')) {
        // No person this PS could show the request to, and the agent cannot bring one.
        await governance.record({
          agent,
          kind: 'permission_request',
          detail: { ...requestDetail, error: 'user_unreachable' },
        });
        throw new UserUnreachable(
          'The person must decide this request, this agent is not connected to anyone here, and it did not declare the interaction capability.',
        );
      }
      const plan: PermissionPlan = compact({
        agent,
        action,
        description,
        parameters,
        missionS256: mission?.s256,
      }) as PermissionPlan;
      const created = await governance.createPending({
        kind: 'permission',
        agent,
        request: { plan },
        personId,
      });
      await governance.record({
        agent,
        missionS256: mission?.s256,
        personId: personId ?? null,
        pendingId: created.record.id,
        kind: 'permission_request',
        detail: requestDetail,
      });
      return {
        kind: 'deferred',
        record: created.record.id,
        retryAfter: created.record.retryAfter,
        requirement: created.requirement ?? { requirement: 'approval' },
      };
    },

    async decide(record, personId, answer) {
      const { plan } = record.request as { plan: PermissionPlan };
      if (!(await deps.store.approve(record.id, personId, answer))) return false;
      await governance.record({
        agent: plan.agent,
        missionS256: plan.missionS256,
        personId,
        pendingId: record.id,
        kind: 'permission_response',
        detail: { action: plan.action, ...answer, decided_by: 'person' },
      });
      return true;
    },
  };
}
