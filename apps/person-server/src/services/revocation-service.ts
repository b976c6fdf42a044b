import {
  type Clock,
  Forbidden,
  type IdentifierPolicy,
  isEndpointUrl,
  NotFound,
  type OutboundFetch,
  type OutboundSigner,
} from '@aauth-ref/core';
import type { AgentRef } from './ports.js';

/**
 * Token revocation (§Token Revocation) and its cascade: what `POST /revoke` accepts, what revoking an
 * agent token, a binding or a single token takes down with it, and the notices the PS then sends to
 * each resource's `revocation_endpoint`. The notices run after the answer (a resource that is down
 * never fails a revocation); `settled()` lets shutdown and tests wait for them.
 */

/** A token this PS issued (or, four-party, provided) that a resource holds. */
export interface IssuedTokenRef {
  readonly kind: 'auth' | 'person';
  readonly jti: string;
  /** The token's `iss`: this PS, or the AS for a four-party auth token. */
  readonly iss: string;
  /** The resource the token was issued for (its `aud`). */
  readonly resource: string;
  readonly exp: Date;
}

export interface RevocationEntry {
  readonly iss: string;
  readonly jti: string;
  readonly at: Date;
  readonly reason: string;
  /** When the revoked token expires by itself (the row can then be purged); `null` when unknown. */
  readonly expiresAt: Date | null;
}

export interface CascadeFailure {
  readonly resource: string;
  readonly iss: string;
  readonly jti: string;
  readonly reason: 'metadata' | 'no_revocation_endpoint' | 'network' | 'egress' | 'status' | 'signing';
  readonly status?: number;
}

export interface RevocationStore {
  /** An agent token this origin's Agent Provider issued. */
  findIssuedAgentToken(
    jti: string,
  ): Promise<{ sub: string; parentAgent: string | null; expiresAt: Date } | undefined>;
  findPersonToken(jti: string): Promise<IssuedTokenRef | undefined>;
  /** An auth token this PS issued or provided whose `iss` is `iss`. */
  findAuthToken(iss: string, jti: string): Promise<IssuedTokenRef | undefined>;
  isRevoked(iss: string, jti: string): Promise<boolean>;
  /** The agent an agent token of another Agent Provider named, when it signed a request here. */
  findSeenAgentToken(iss: string, jti: string): Promise<AgentRef | undefined>;
  /** Idempotent: a pair already revoked keeps its first record. */
  recordRevocation(entry: RevocationEntry): Promise<void>;
  /** Revokes one live auth token (of `personId`, when given); `undefined` when none was live. */
  revokeAuthToken(jti: string, at: Date, personId?: string): Promise<IssuedTokenRef | undefined>;
  revokePersonToken(jti: string, at: Date, personId: string): Promise<IssuedTokenRef | undefined>;
  /** Revokes every live auth and person token issued for the agent; returns those now revoked. */
  revokeTokensForAgent(agent: AgentRef, at: Date, reason: string): Promise<IssuedTokenRef[]>;
  /**
   * Revokes the person's active binding of the agent with the person's consents for it, the
   * enrollment and agent tokens when the agent is this origin's own, and the tokens issued for the
   * agent on the person's behalf (returned). `undefined` when the person has no such binding.
   */
  revokeBinding(personId: string, agent: AgentRef, at: Date): Promise<IssuedTokenRef[] | undefined>;
  /** Revokes every live auth and person token of the person issued under the mission; returns them. */
  revokeTokensForMission(personId: string, missionS256: string, at: Date): Promise<IssuedTokenRef[]>;
  recordCascadeFailure(failure: CascadeFailure, at: Date): Promise<void>;
}

/** Structured events (`event` field) for operators; never a token. */
export interface RevocationLog {
  info(event: string, fields: Readonly<Record<string, unknown>>): void;
  warn(event: string, fields: Readonly<Record<string, unknown>>): void;
}

export interface RevocationServiceDeps {
  /** This PS (and its Agent Provider, same origin). */
  readonly issuer: string;
  readonly clock: Clock;
  readonly identifierPolicy: IdentifierPolicy;
  /** `REVOCATION_TRUSTED_ISSUERS`: parties that may revoke tokens they did not issue. */
  readonly trustedIssuers: readonly string[];
  readonly store: RevocationStore;
  /** A resource's `/.well-known/aauth-resource.json`, `issuer` checked, fetched through egress admission. */
  readonly resourceMetadata: (resource: string) => Promise<Record<string, unknown>>;
  readonly signer: OutboundSigner;
  readonly fetch: OutboundFetch;
  readonly log: RevocationLog;
}

export interface RevocationRequest {
  /** The verified `jwks_uri` signer's `id` (its issuer identifier). */
  readonly signerId: string;
  readonly iss: string;
  readonly jti: string;
}

export type RevokeOutcome =
  | 'agent_token'
  | 'person_token'
  | 'auth_token'
  /** A token of another issuer this PS has no record of, revoked on that issuer's (or a trusted party's) word. */
  | 'foreign_token';

export interface RevocationService {
  /** `POST /revoke`. Throws `Forbidden` (caller may not revoke it) or `NotFound` (unknown pair). */
  revoke(request: RevocationRequest): Promise<RevokeOutcome>;
  /** Dashboard: the person revokes their binding of `agent`. `false` when they have none. */
  revokeBinding(personId: string, agent: AgentRef): Promise<boolean>;
  /** Dashboard: the person revokes one of their auth tokens. `false` when it is not theirs or not live. */
  revokeAuthToken(personId: string, jti: string): Promise<boolean>;
  /** Dashboard: the person revokes one of their person tokens. */
  revokePersonToken(personId: string, jti: string): Promise<boolean>;
  /**
   * A mission the person revoked (§Mission Management, reason `revoked`): the tokens issued under it
   * are revoked and their resources notified. Returns how many tokens were revoked.
   */
  revokeMissionTokens(personId: string, missionS256: string): Promise<number>;
  /** Resolves when every notice started so far has been sent or recorded as failed. */
  settled(): Promise<void>;
}

/** Bounds the resources notified at once by one cascade. */
const CASCADE_CONCURRENCY = 4;

export function createRevocationService(deps: RevocationServiceDeps): RevocationService {
  const { issuer, clock, store, log } = deps;
  const trusted = new Set(deps.trustedIssuers);
  const inflight = new Set<Promise<void>>();
  const now = () => new Date(clock.now());

  async function fail(failure: CascadeFailure): Promise<void> {
    log.warn('revocation.cascade_failed', { ...failure });
    try {
      await store.recordCascadeFailure(failure, now());
    } catch (cause) {
      log.warn('revocation.cascade_failure_unrecorded', { resource: failure.resource, cause: String(cause) });
    }
  }

  /** Sends the notices for the tokens of one resource, one after the other. */
  async function notifyResource(resource: string, tokens: readonly IssuedTokenRef[]): Promise<void> {
    let metadata: Record<string, unknown>;
    try {
      metadata = await deps.resourceMetadata(resource);
    } catch {
      for (const token of tokens)
        await fail({ resource, iss: token.iss, jti: token.jti, reason: 'metadata' });
      return;
    }
    const endpoint = metadata.revocation_endpoint;
    if (!isEndpointUrl(endpoint, deps.identifierPolicy)) {
      // §Token Revocation: "where none is reached that access is bounded by the … lifetime alone".
      for (const token of tokens) {
        await fail({ resource, iss: token.iss, jti: token.jti, reason: 'no_revocation_endpoint' });
      }
      return;
    }
    for (const token of tokens) {
      const ref = { resource, iss: token.iss, jti: token.jti };
      let signed: ReturnType<OutboundSigner['signJsonPost']>;
      try {
        signed = deps.signer.signJsonPost(
          endpoint,
          { iss: token.iss, jti: token.jti },
          metadata.additional_signature_components,
        );
      } catch {
        await fail({ ...ref, reason: 'signing' });
        continue;
      }
      if (signed.omittedComponents.length > 0) {
        log.info('revocation.components_omitted', { resource, components: signed.omittedComponents });
      }
      try {
        const response = await deps.fetch(signed.request);
        // 404: the resource holds no such token, so there is nothing left to revoke there.
        if (response.status === 200 || response.status === 404) {
          log.info('revocation.notified', { ...ref, status: response.status });
        } else {
          await fail({ ...ref, reason: 'status', status: response.status });
        }
      } catch (cause) {
        const reason = (cause as { reason?: unknown }).reason === 'egress' ? 'egress' : 'network';
        await fail({ ...ref, reason });
      }
    }
  }

  async function runCascade(tokens: readonly IssuedTokenRef[]): Promise<void> {
    const byResource = new Map<string, IssuedTokenRef[]>();
    for (const token of tokens) {
      const list = byResource.get(token.resource) ?? [];
      list.push(token);
      byResource.set(token.resource, list);
    }
    const queue = [...byResource];
    const worker = async () => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        await notifyResource(next[0], next[1]).catch((cause: unknown) =>
          log.warn('revocation.cascade_error', { resource: next?.[0], cause: String(cause) }),
        );
      }
    };
    await Promise.all(Array.from({ length: Math.min(CASCADE_CONCURRENCY, queue.length) }, worker));
  }

  /** Starts the notices without waiting for them. */
  function startCascade(tokens: readonly IssuedTokenRef[]): void {
    if (tokens.length === 0) return;
    const task = runCascade(tokens).finally(() => inflight.delete(task));
    inflight.add(task);
  }

  async function revokeOwnToken(jti: string): Promise<RevokeOutcome> {
    const at = now();
    const agentToken = await store.findIssuedAgentToken(jti);
    if (agentToken) {
      await store.recordRevocation({
        iss: issuer,
        jti,
        at,
        reason: 'agent_token',
        expiresAt: agentToken.expiresAt,
      });
      // §Token Revocation: the PS "SHOULD revoke the auth tokens it issued or provided for that agent".
      // A sub-agent's tokens are issued to the parent (the signer), so the parent is the agent here.
      const agent = { iss: issuer, sub: agentToken.parentAgent ?? agentToken.sub };
      startCascade(await store.revokeTokensForAgent(agent, at, 'agent_token_revoked'));
      return 'agent_token';
    }
    const authToken = await store.findAuthToken(issuer, jti);
    if (authToken) {
      const revoked = await store.revokeAuthToken(jti, at);
      if (revoked) startCascade([revoked]);
      else
        await store.recordRevocation({
          iss: issuer,
          jti,
          at,
          reason: 'auth_token',
          expiresAt: authToken.exp,
        });
      return 'auth_token';
    }
    const personToken = await store.findPersonToken(jti);
    if (personToken) {
      if (!(await store.isRevoked(issuer, jti))) {
        await store.recordRevocation({
          iss: issuer,
          jti,
          at,
          reason: 'person_token',
          expiresAt: personToken.exp,
        });
        if (personToken.exp > at) startCascade([personToken]);
      }
      return 'person_token';
    }
    throw new NotFound('No token with this iss and jti was issued here.');
  }

  return {
    async revoke({ signerId, iss, jti }) {
      // §Token Revocation: "MUST only accept revocation from the issuer of the token being revoked or
      // from a trusted PS". Checked before any lookup, so others learn nothing about which tokens exist.
      if (signerId !== iss && !trusted.has(signerId)) {
        throw new Forbidden('Only the issuer of a token or a trusted party may revoke it here.');
      }
      let outcome: RevokeOutcome;
      if (iss === issuer) {
        outcome = await revokeOwnToken(jti);
      } else {
        const at = now();
        // Four-party: an auth token the PS provided, revoked by the AS that issued it (or a trusted party).
        const provided = await store.findAuthToken(iss, jti);
        if (provided) {
          await store.revokeAuthToken(jti, at);
          await store.recordRevocation({ iss, jti, at, reason: 'auth_token', expiresAt: provided.exp });
        } else {
          // Another issuer's token the PS has no record of — typically an agent token of another AP:
          // "The PS MUST deny subsequent requests presenting that agent token", and "SHOULD revoke the
          // auth tokens it issued or provided for that agent" — known when that token signed here.
          await store.recordRevocation({ iss, jti, at, reason: 'foreign_token', expiresAt: null });
          const agent = await store.findSeenAgentToken(iss, jti);
          if (agent) startCascade(await store.revokeTokensForAgent(agent, at, 'agent_token_revoked'));
        }
        outcome = provided ? 'auth_token' : 'foreign_token';
      }
      log.info('token.revoked', { iss, by: signerId, outcome });
      return outcome;
    },

    async revokeBinding(personId, agent) {
      const revoked = await store.revokeBinding(personId, agent, now());
      if (!revoked) return false;
      log.info('binding.revoked', { agentIss: agent.iss, agentSub: agent.sub, tokens: revoked.length });
      startCascade(revoked);
      return true;
    },

    async revokeAuthToken(personId, jti) {
      const revoked = await store.revokeAuthToken(jti, now(), personId);
      if (!revoked) return false;
      log.info('token.revoked', { iss: revoked.iss, by: 'person', outcome: 'auth_token' });
      startCascade([revoked]);
      return true;
    },

    async revokePersonToken(personId, jti) {
      const revoked = await store.revokePersonToken(jti, now(), personId);
      if (!revoked) return false;
      log.info('token.revoked', { iss: revoked.iss, by: 'person', outcome: 'person_token' });
      startCascade([revoked]);
      return true;
    },

    async revokeMissionTokens(personId, missionS256) {
      const revoked = await store.revokeTokensForMission(personId, missionS256, now());
      log.info('mission.tokens_revoked', { tokens: revoked.length });
      startCascade(revoked);
      return revoked.length;
    },

    async settled() {
      while (inflight.size > 0) await Promise.allSettled([...inflight]);
    },
  };
}
