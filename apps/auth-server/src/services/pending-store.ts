import { generatePendingId, type PendingCoreStore } from '@aauth-ref/fastify';
import type { ClarificationQuestion } from './policy.js';
import type { GrantContext } from './ports.js';

/**
 * Deferred token requests (§Deferred Responses) as the AS keeps them. A row is bound to the Person
 * Server that made the request; every transition is a conditional write that reports whether it took
 * effect, so concurrent polls and answers never both succeed.
 */

export type PendingStatus =
  /** `402`: waiting for a billing relationship with the PS (demo payment page). */
  | 'payment'
  /** `requirement=interaction`: waiting for the person to open the code at the AS. */
  | 'interaction'
  /** The code was consumed; waiting for the person to bind their PS. */
  | 'interacting'
  /** `requirement=claims`: waiting for the PS to POST the claims. */
  | 'claims'
  /** `requirement=clarification`: waiting for the PS to POST a `clarification_response`. */
  | 'clarification'
  /** `requirement=approval`: waiting for an administrator. */
  | 'approval'
  /** A claims answer is being evaluated (held by the request that won the transition). */
  | 'deciding'
  | 'approved'
  | 'denied'
  | 'cancelled'
  | 'expired';

export interface PendingRecord {
  readonly id: string;
  /** The requesting PS (the `jwks_uri` signer's `id`): the only party that may poll or answer. */
  readonly ps: string;
  readonly status: PendingStatus;
  readonly context: GrantContext;
  readonly requiredClaims: readonly string[] | null;
  readonly claims: Readonly<Record<string, unknown>> | null;
  /** Normalized interaction code, while one was offered. */
  readonly interactionCode: string | null;
  readonly codeConsumedAt: Date | null;
  readonly interactionPersonId: string | null;
  readonly billingId: string | null;
  /** The question being asked. */
  readonly clarification: ClarificationQuestion | null;
  readonly answers: Readonly<Record<string, string>> | null;
  readonly approvedAt: Date | null;
  /** The `200` body once approved. */
  readonly result: unknown;
  readonly retryAfter: number;
  readonly lastPolledAt: Date | null;
  readonly createdAt: Date;
  readonly expiresAt: Date;
  /** Set once a terminal answer was given: every later request to the URL is `410`. */
  readonly terminalAt: Date | null;
}

export type NewPendingRecord = Pick<
  PendingRecord,
  'id' | 'ps' | 'status' | 'context' | 'retryAfter' | 'lastPolledAt' | 'createdAt' | 'expiresAt'
> &
  StepFields;

/** What entering a step sets (each member only when given). */
export interface StepFields {
  readonly requiredClaims?: readonly string[] | null;
  readonly interactionCode?: string;
  readonly billingId?: string;
  readonly clarification?: ClarificationQuestion | null;
  readonly retryAfter?: number;
  readonly expiresAt?: Date;
}

export interface PendingUpdate extends StepFields {
  readonly status: PendingStatus;
  readonly claims?: Readonly<Record<string, unknown>>;
  readonly answers?: Readonly<Record<string, string>>;
  readonly result?: unknown;
}

export interface PendingStore extends PendingCoreStore<PendingRecord> {
  insert(record: NewPendingRecord): Promise<void>;
  /** `from` → `update.status` on an open row. */
  transition(id: string, from: PendingStatus, update: PendingUpdate): Promise<boolean>;
  findByBillingId(billingId: string): Promise<PendingRecord | undefined>;
  /** Consumes an unconsumed code on an open row for `personId` (`interaction` → `interacting`). */
  consumeCode(id: string, personId: string, at: Date): Promise<boolean>;
  /** Records an administrator's approval of a row waiting in `approval`. */
  recordApproval(id: string, adminId: string, at: Date): Promise<boolean>;
  /** Any open waiting row → `denied` (the person declined, an administrator denied). */
  deny(id: string, from: readonly PendingStatus[]): Promise<boolean>;
  /** Open rows in `status`, oldest first (administrator pages). */
  listOpen(status: PendingStatus, limit: number): Promise<PendingRecord[]>;
}

export { generatePendingId, PENDING_ID } from '@aauth-ref/fastify';

/** An unguessable id for a browser page (`/billing/<id>`), unrelated to the pending URL. */
export const generateBrowserId = generatePendingId;
