import {
  compact,
  type Governance,
  markdownMember,
  missionMember,
  objectMember,
  requireAction,
  requireBodyObject,
} from './governance.js';
import { agentRefOf, type RequestingAgent } from './resource-token-check.js';

/**
 * §Audit Endpoint: the agent reports an action it performed. There is no audit outside a mission, so
 * `mission_s256` is REQUIRED; the record goes into the mission log (§Mission Log). An unknown or
 * foreign mission is `404 mission_not_found`, the owner's ended mission `403 mission_terminated`.
 */

export interface AuditService {
  /** Validates and records the audit entry; the route answers `201`. */
  record(signer: RequestingAgent, body: unknown): Promise<{ missionS256: string }>;
}

export function createAuditService(governance: Governance): AuditService {
  return {
    async record(signer, body) {
      const members = requireBodyObject(body);
      const missionS256 = missionMember(members.mission_s256, true) as string;
      const action = requireAction(members.action);
      const description = markdownMember(members.description, 'description');
      const parameters = objectMember(members.parameters, 'parameters');
      const result = objectMember(members.result, 'result');
      await governance.activeMission(signer, missionS256);
      await governance.record({
        agent: agentRefOf(signer),
        missionS256,
        kind: 'audit',
        detail: compact({ action, description, parameters, result }),
      });
      return { missionS256 };
    },
  };
}
