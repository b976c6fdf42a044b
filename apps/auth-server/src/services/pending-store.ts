import { randomBytes } from 'node:crypto';
import type { GrantContext } from './ports.js';

/**
 * Deferred token requests (§Deferred Responses) as the AS keeps them. A row is bound to the Person
 * Server that made the request; every transition is a conditional write that reports whether it took
 * effect, so concurrent polls and answers never both succeed.
 */

export type PendingStatus =
  /** `requirement=claims`: waiting for the PS to POST the claims. */
  | 'claims'
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
  /** The `200` body once approved. */
  readonly result: unknown;
  readonly retryAfter: number;
  readonly lastPolledAt: Date | null;
  readonly createdAt: Date;
  readonly expiresAt: Date;
  /** Set once a terminal answer was given: every later request to the URL is `410`. */
  readonly terminalAt: Date | null;
}

export type NewPendingRecord = Omit<PendingRecord, 'result' | 'terminalAt'>;

export interface PendingUpdate {
  readonly status: PendingStatus;
  readonly requiredClaims?: readonly string[] | null;
  readonly claims?: Readonly<Record<string, unknown>>;
  readonly result?: unknown;
}

export interface PendingStore {
  insert(record: NewPendingRecord): Promise<void>;
  find(id: string): Promise<PendingRecord | undefined>;
  markPolled(id: string, at: Date): Promise<void>;
  /** Sets `terminalAt` (and `status` when given) unless already set. */
  finish(id: string, at: Date, status?: PendingStatus): Promise<boolean>;
  /** `from` → `update.status` on an open row. */
  transition(id: string, from: PendingStatus, update: PendingUpdate): Promise<boolean>;
}

/** 32 random bytes: 256 bits, far above §Pending URL Security's "unguessable". */
export function generatePendingId(): string {
  return randomBytes(32).toString('base64url');
}

export const PENDING_ID = /^[A-Za-z0-9_-]{43}$/;
