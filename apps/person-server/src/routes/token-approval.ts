import type { AuthTokenPlan } from '../services/auth-token-service.js';
import type { PendingRecord } from '../services/pending-service.js';
import type { PersonTokenPlan } from '../services/person-token-service.js';
import { bindAgentInTx } from '../stores/prisma-bindings.js';
import { approvePendingInTx } from '../stores/prisma-pending-store.js';
import type { AppContext } from './context.js';

export type TokenApprovalOutcome = 'approved' | 'bound_to_other' | 'not_open';

/**
 * The person approved a pending `/person` or `/token` request. For an agent no one holds yet the
 * binding is made now (§Agent-Person Binding: "established lazily — when the person first authorizes
 * the agent"), then the token is issued and kept as the result the next poll delivers.
 */
export async function approveTokenRequest(
  context: AppContext,
  record: PendingRecord,
  personId: string,
): Promise<TokenApprovalOutcome> {
  const { plan } = record.request as { plan: PersonTokenPlan | AuthTokenPlan };
  if (plan.personId !== undefined && plan.personId !== personId) return 'bound_to_other';
  const bound = await context.prisma.$transaction((tx) => bindAgentInTx(tx, plan.agent, personId, {}));
  if (bound === 'bound_to_other') return 'bound_to_other';
  let result: Record<string, unknown>;
  if (record.kind === 'person_token') {
    const issued = await context.personTokens.completePersonToken(plan as PersonTokenPlan, { personId });
    result = { person_token: issued.personToken, expires_in: issued.expiresIn };
  } else {
    const issued = await context.authTokens.completeAuthToken(plan as AuthTokenPlan, { personId });
    result = { auth_token: issued.authToken, expires_in: issued.expiresIn };
  }
  const approved = await context.prisma.$transaction((tx) =>
    approvePendingInTx(tx, record.id, personId, result),
  );
  return approved ? 'approved' : 'not_open';
}
