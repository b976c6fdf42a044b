import { createHash, randomUUID } from 'node:crypto';
import { type Clock, generateSessionToken, NotFound, SignatureInvalidRequest } from '@aauth-ref/core';
import type { NewSessionTokenRow } from './pending-service.js';

/**
 * Session tokens (§AAuth-Access Response Header, §AAuth-Access Security): opaque token68 values of
 * 256 random bits, stored only as SHA-256 hashes. A grant delivered to a request signed with an agent
 * token is bound to that agent's identity (`iss`, `sub`): every use must be signed by the key in the
 * `cnf` of a currently valid agent token of that agent, so the grant survives the agent's key
 * rotation (docs/spec-decisions.md, *Resource server: session tokens bound to the agent identity*).
 * Otherwise it is bound to the thumbprint of the key that completed the interaction. A grant (one person's consent for one key) rolls its token after
 * `rollSeconds`: the response carries a new `AAuth-Access` and the previous value keeps working for
 * `graceSeconds`, so requests already in flight are not refused. Rolling never extends the grant.
 *
 * A grant can be revoked (docs/spec-decisions.md, *Resource server: session-token revocation*): by
 * the person on the resource's own sessions page, or through `revocation_endpoint` as the pair
 * (this resource's issuer, grant id). The revocation is recorded in the shared `(iss, jti)`
 * revocation state, so it survives a restart and reaches every instance; every token of the grant —
 * the current one, the previous one in grace, any rolled later — is refused from then on.
 */

export interface SessionTokenRow extends NewSessionTokenRow {
  readonly supersededAt: Date | null;
}

export interface SessionTokenStore {
  find(tokenHash: string): Promise<SessionTokenRow | undefined>;
  /** Supersedes `previousHash` (unless already superseded) and inserts `next`, atomically. */
  roll(previousHash: string, at: Date, next: NewSessionTokenRow): Promise<boolean>;
  /** The newest row of each grant of `userId` that ends after `after`, the most recently issued token first. */
  listGrants(userId: string, after: Date): Promise<GrantRow[]>;
  /** The newest row of one grant. */
  findGrant(grantId: string): Promise<SessionTokenRow | undefined>;
}

/** A grant's newest row and when its first token was issued. */
export interface GrantRow extends SessionTokenRow {
  readonly grantCreatedAt: Date;
}

/** The shared revocation state, keyed by grant id under this resource's issuer. */
export interface SessionRevocations {
  isRevoked(grantId: string): Promise<boolean>;
  revoke(entry: { grantId: string; expiresAt: Date; revokedBy: string; at: Date }): Promise<void>;
}

/** One grant as the person's sessions page lists it. */
export interface GrantSummary {
  readonly grantId: string;
  readonly scope: string;
  /** The agent key the grant is bound to. */
  readonly agentJkt: string;
  /** When the person consented (the first token of the grant). */
  readonly createdAt: Date;
  readonly expiresAt: Date;
}

/** Who signed the request presenting a session token: the key, and the agent token's identity if any. */
export interface SessionSigner {
  readonly keyThumbprint: string;
  readonly agent?: { readonly iss: string; readonly sub: string };
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
  readonly revocations: SessionRevocations;
  readonly clock: Clock;
  readonly ttlSeconds: number;
  readonly rollSeconds: number;
  readonly graceSeconds: number;
}

export interface SessionTokenService {
  /** A new grant's first token and the row to store (plaintext is never stored). */
  mint(input: { userId: string; agentJkt: string; agent?: { iss: string; sub: string }; scope: string }): {
    token: string;
    row: NewSessionTokenRow;
  };
  /**
   * The grant a presented session token opens for a request signed by `signer`. Throws
   * `SignatureInvalidRequest` (401 `Signature-Error: invalid_request`) for an unknown, expired,
   * superseded-past-grace, revoked, other-agent or other-key token.
   */
  authenticate(token: string, signer: SessionSigner): Promise<AuthenticatedSession>;
  /** The unexpired, unrevoked grants of a person (the resource's sessions page). */
  listGrants(userId: string): Promise<GrantSummary[]>;
  /**
   * Revokes a grant. With `userId`, only that person's own (another's or an unknown id is
   * `NotFound`); without it (the revocation endpoint) any grant this resource issued. Revoking twice is
   * not an error.
   */
  revokeGrant(input: { grantId: string; userId?: string; revokedBy: string }): Promise<void>;
}

export function hashSessionToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('base64url');
}

/**
 * The agent-identity binding needs the same agent (`iss` and `sub` of a verified agent token — the
 * hook already checked the signature against its `cnf`); the key binding, the same key.
 */
function isBoundTo(row: NewSessionTokenRow, signer: SessionSigner): boolean {
  if (row.agentIss !== null && row.agentSub !== null) {
    return signer.agent?.iss === row.agentIss && signer.agent.sub === row.agentSub;
  }
  return row.agentJkt === signer.keyThumbprint;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const REFUSED = 'The session token is not valid for this key; discard it and retry without it.';

export function createSessionTokenService(deps: SessionTokenServiceDeps): SessionTokenService {
  const { store, clock } = deps;

  function rowFor(
    grant: SessionGrant & {
      agentJkt: string;
      agentIss: string | null;
      agentSub: string | null;
      expiresAt: Date;
    },
    at: Date,
  ) {
    const token = generateSessionToken();
    const row: NewSessionTokenRow = {
      tokenHash: hashSessionToken(token),
      grantId: grant.grantId,
      userId: grant.userId,
      agentJkt: grant.agentJkt,
      agentIss: grant.agentIss,
      agentSub: grant.agentSub,
      scope: grant.scope,
      issuedAt: at,
      expiresAt: grant.expiresAt,
    };
    return { token, row };
  }

  return {
    mint({ userId, agentJkt, agent, scope }) {
      const at = new Date(clock.now());
      return rowFor(
        {
          grantId: randomUUID(),
          userId,
          agentJkt,
          agentIss: agent?.iss ?? null,
          agentSub: agent?.sub ?? null,
          scope,
          expiresAt: new Date(at.getTime() + deps.ttlSeconds * 1000),
        },
        at,
      );
    },

    async authenticate(token, signer) {
      const row = await store.find(hashSessionToken(token));
      const now = clock.now();
      // One answer for every refusal: which check failed tells a thief nothing useful.
      if (!row || !isBoundTo(row, signer) || now >= row.expiresAt.getTime()) {
        throw new SignatureInvalidRequest(REFUSED);
      }
      // A revoked grant is refused like an unknown token, and so never rolled into a new one.
      if (await deps.revocations.isRevoked(row.grantId)) throw new SignatureInvalidRequest(REFUSED);
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

    async listGrants(userId) {
      const rows = await store.listGrants(userId, new Date(clock.now()));
      const open: GrantSummary[] = [];
      for (const row of rows) {
        if (await deps.revocations.isRevoked(row.grantId)) continue;
        open.push({
          grantId: row.grantId,
          scope: row.scope,
          agentJkt: row.agentJkt,
          createdAt: row.grantCreatedAt,
          expiresAt: row.expiresAt,
        });
      }
      return open;
    },

    async revokeGrant({ grantId, userId, revokedBy }) {
      const row = UUID.test(grantId) ? await store.findGrant(grantId) : undefined;
      // Another person's grant is answered exactly like an unknown one.
      if (!row || (userId !== undefined && row.userId !== userId)) {
        throw new NotFound('No such session.');
      }
      if (await deps.revocations.isRevoked(grantId)) return;
      await deps.revocations.revoke({
        grantId,
        expiresAt: row.expiresAt,
        revokedBy,
        at: new Date(clock.now()),
      });
    },
  };
}
