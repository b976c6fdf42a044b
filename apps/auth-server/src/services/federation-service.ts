import { type Clock, normalizeInteractionCode } from '@aauth-ref/core';
import type { PendingRecord, PendingStore } from './pending-store.js';
import type { TrustStore } from './ports.js';

/**
 * The browser side of the AS's steps (README, *Auth server*): a person opens an interaction code and
 * binds their PS (§PS-AS Trust Establishment "Interaction", §Interaction Code Format), pays on the
 * demo billing page ("Payment"), and an administrator approves or denies (`requirement=approval`).
 * Each records a fact; the PS's next poll re-evaluates the policy with it.
 */

export interface BindingStore extends TrustStore {
  findBoundPerson(ps: string, sub: string): Promise<string | undefined>;
  createBinding(ps: string, sub: string, personId: string, at: Date): Promise<void>;
  recordBilling(ps: string, personId: string, at: Date): Promise<void>;
}

export type CodeLookup =
  | { readonly kind: 'opened'; readonly record: PendingRecord }
  /** Unknown, malformed or already consumed (§Interaction Code Format: single use). */
  | { readonly kind: 'invalid_code' }
  | { readonly kind: 'expired' };

export type BindOutcome = 'bound' | 'already_bound' | 'bound_to_other' | 'not_found';

export interface FederationService {
  /** Consumes the code for `personId` (the first valid visit binds the request to that person). */
  openInteraction(input: string, personId: string): Promise<CodeLookup>;
  /** An open request whose code `personId` consumed. */
  findInteraction(id: string, personId: string): Promise<PendingRecord | undefined>;
  bind(id: string, personId: string): Promise<BindOutcome>;
  /** The person refuses: the request ends `403 denied`. */
  decline(id: string, personId: string): Promise<boolean>;
  /** An open request waiting for payment. */
  findBilling(billingId: string): Promise<PendingRecord | undefined>;
  pay(billingId: string, personId: string): Promise<boolean>;
  listApprovals(): Promise<PendingRecord[]>;
  decideApproval(id: string, adminId: string, approve: boolean): Promise<boolean>;
}

const BROWSER_ID = /^[A-Za-z0-9_-]{43}$/;
const WAITING_FOR_PERSON = ['payment', 'interaction', 'interacting'] as const;

export function createFederationService(deps: {
  readonly clock: Clock;
  readonly pending: PendingStore;
  readonly bindings: BindingStore;
}): FederationService {
  const { pending, bindings } = deps;
  const now = () => new Date(deps.clock.now());
  const isOpen = (record: PendingRecord) => record.terminalAt === null && now() < record.expiresAt;

  async function findInteraction(id: string, personId: string) {
    const record = BROWSER_ID.test(id) ? await pending.find(id) : undefined;
    return record && isOpen(record) && record.interactionPersonId === personId ? record : undefined;
  }

  async function findBilling(billingId: string) {
    const record = BROWSER_ID.test(billingId) ? await pending.findByBillingId(billingId) : undefined;
    return record && isOpen(record) && record.status === 'payment' ? record : undefined;
  }

  return {
    async openInteraction(input, personId) {
      const normalized = normalizeInteractionCode(input);
      const record = normalized ? await pending.findByCode(normalized) : undefined;
      if (!record || record.codeConsumedAt !== null || record.terminalAt !== null)
        return { kind: 'invalid_code' };
      // §Interaction Code Format: "Once the pending request has expired, presenting the code MUST fail with expired".
      if (now() >= record.expiresAt) return { kind: 'expired' };
      if (!(await pending.consumeCode(record.id, personId, now()))) return { kind: 'invalid_code' };
      return { kind: 'opened', record: { ...record, codeConsumedAt: now(), interactionPersonId: personId } };
    },
    findInteraction,
    async bind(id, personId) {
      const record = await findInteraction(id, personId);
      if (!record) return 'not_found';
      const { ps, sub } = record.context;
      const bound = await bindings.findBoundPerson(ps, sub);
      if (bound === personId) return 'already_bound';
      // One person per (ps, sub): another account cannot take over a binding.
      if (bound !== undefined) return 'bound_to_other';
      await bindings.createBinding(ps, sub, personId, now());
      return 'bound';
    },
    async decline(id, personId) {
      const record = await findInteraction(id, personId);
      return record ? pending.deny(record.id, WAITING_FOR_PERSON) : false;
    },
    findBilling,
    async pay(billingId, personId) {
      const record = await findBilling(billingId);
      if (!record) return false;
      await bindings.recordBilling(record.ps, personId, now());
      return true;
    },
    listApprovals: () => pending.listOpen('approval', 100),
    async decideApproval(id, adminId, approve) {
      if (!BROWSER_ID.test(id)) return false;
      return approve ? pending.recordApproval(id, adminId, now()) : pending.deny(id, ['approval']);
    },
  };
}
