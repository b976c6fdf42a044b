import { formString } from '@aauth-ref/fastify';
import type { AuthTokenPlan } from '../services/auth-token-service.js';
import type { PendingRecord } from '../services/pending-service.js';
import type { PersonTokenPlan } from '../services/person-token-service.js';
import { R3_CHOICES, type R3Choice } from '../services/r3-consent.js';
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
  r3Choices?: readonly R3Choice[],
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
    const issued = await context.authTokens.completeAuthToken(plan as AuthTokenPlan, {
      personId,
      ...(r3Choices === undefined ? {} : { r3Choices }),
    });
    result = { auth_token: issued.authToken, expires_in: issued.expiresIn };
  }
  const approved = await context.prisma.$transaction((tx) =>
    approvePendingInTx(tx, record.id, personId, result),
  );
  return approved ? 'approved' : 'not_open';
}

/**
 * The person's answer for each R3 operation of a class document (`r3_op_<i>` = `grant`, `per_call`
 * or `deny`; a missing field keeps the page's default, `grant`). A per-call proposal has no choices:
 * Approve approves its one call. `undefined` for a request without R3; `invalid` for a tampered form.
 */
export function readR3Choices(record: PendingRecord, form: unknown): R3Choice[] | 'invalid' | undefined {
  if (record.kind !== 'auth_token') return undefined;
  const { plan } = record.request as { plan: AuthTokenPlan };
  if (plan.r3 === undefined) return undefined;
  if (plan.r3.proposal) return plan.r3.operations.map(() => 'grant');
  const choices: R3Choice[] = [];
  for (let i = 0; i < plan.r3.operations.length; i++) {
    const value = formString(form, `r3_op_${i}`) ?? 'grant';
    if (!(R3_CHOICES as readonly string[]).includes(value)) return 'invalid';
    choices.push(value as R3Choice);
  }
  return choices;
}
