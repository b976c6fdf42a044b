import { createHash, randomUUID } from 'node:crypto';
import { type Clock, generateSessionToken, SignatureInvalidRequest } from '@aauth-ref/core';
import type { NewSessionTokenRow } from './pending-service.js';

/**
 * Session tokens (§AAuth-Access Response Header, §AAuth-Access Security): opaque token68 values of
 * 256 random bits, stored only as SHA-256 hashes, bound to the thumbprint of the agent key that
 * completed the interaction. A grant (one person's consent for one key) rolls its token after
 * `rollSeconds`: the response carries a new `AAuth-Access` and the previous value keeps working for
 * `graceSeconds`, so requests already in flight are not refused. Rolling never extends the grant.
 */

export interface SessionTokenRow extends NewSessionTokenRow {
  readonly supersededAt: Date | null;
}

export interface SessionTokenStore {
  find(tokenHash: string): Promise<SessionTokenRow | undefined>;
  /** Supersedes `previousHash` (unless already superseded) and inserts `next`, atomically. */
  roll(previousHash: string, at: Date, next: NewSessionTokenRow): Promise<boolean>;
}

export interface SessionGrant {
  readonly grantId: string;
  readonly userId: string;
  readonly scope: string;
}

export interface AuthenticatedSession {
  readonly grant: SessionGrant;
  /** A new session token to send in `AAuth-Access` when this request rolled the old one. */
  readonly rolled?: string;
}

export interface SessionTokenServiceDeps {
  readonly store: SessionTokenStore;
  readonly clock: Clock;
  readonly ttlSeconds: number;
  readonly rollSeconds: number;
  readonly graceSeconds: number;
}

export interface SessionTokenService {
  /** A new grant's first token and the row to store (plaintext is never stored). */
  mint(input: { userId: string; agentJkt: string; scope: string }): {
    token: string;
    row: NewSessionTokenRow;
  };
  /**
   * The grant a presented session token opens for a request signed by `keyThumbprint`. Throws
   * `SignatureInvalidRequest` (401 `Signature-Error: invalid_request`) for an unknown, expired,
   * superseded-past-grace or other-key token.
   */
  authenticate(token: string, keyThumbprint: string): Promise<AuthenticatedSession>;
}

export function hashSessionToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('base64url');
}

const REFUSED = 'The session token is not valid for this key; discard it and retry without it.';

export function createSessionTokenService(deps: SessionTokenServiceDeps): SessionTokenService {
  const { store, clock } = deps;

  function rowFor(grant: SessionGrant & { agentJkt: string; expiresAt: Date }, at: Date) {
    const token = generateSessionToken();
    const row: NewSessionTokenRow = {
      tokenHash: hashSessionToken(token),
      grantId: grant.grantId,
      userId: grant.userId,
      agentJkt: grant.agentJkt,
      scope: grant.scope,
      issuedAt: at,
      expiresAt: grant.expiresAt,
    };
    return { token, row };
  }

  return {
    mint({ userId, agentJkt, scope }) {
      const at = new Date(clock.now());
      return rowFor(
        {
          grantId: randomUUID(),
          userId,
          agentJkt,
          scope,
          expiresAt: new Date(at.getTime() + deps.ttlSeconds * 1000),
        },
        at,
      );
    },

    async authenticate(token, keyThumbprint) {
      const row = await store.find(hashSessionToken(token));
      const now = clock.now();
      // One answer for every refusal: which check failed tells a thief nothing useful.
      if (!row || row.agentJkt !== keyThumbprint || now >= row.expiresAt.getTime()) {
        throw new SignatureInvalidRequest(REFUSED);
      }
      if (row.supersededAt !== null) {
        if (now >= row.supersededAt.getTime() + deps.graceSeconds * 1000) {
          throw new SignatureInvalidRequest(REFUSED);
        }
        return { grant: row };
      }
      if (now - row.issuedAt.getTime() < deps.rollSeconds * 1000) return { grant: row };
      const next = rowFor(row, new Date(now));
      // Another request may have rolled it a moment ago: then this one just uses the old value in grace.
      if (!(await store.roll(row.tokenHash, new Date(now), next.row))) return { grant: row };
      return { grant: row, rolled: next.token };
    },
  };
}
