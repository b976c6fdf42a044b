import {
  type AgentTokenClaims,
  assertResourceTokenLifetime,
  InvalidAgentToken,
  InvalidResourceToken,
  MissionNotFound,
  MissionTerminated,
  type ResourceTokenClaims,
  TokenVerificationError,
  type TokenVerifier,
  tokenFailureToBodyError,
  UnknownPersonToken,
  type VerifiedToken,
} from '@aauth-ref/core';
import type {
  AgentRef,
  MissionLookup,
  MissionRecord,
  PersonTokenRecord,
  PersonTokenRecordStore,
  SecurityEventLog,
} from './ports.js';

/**
 * Checks of the tokens a PS token request carries: the resource token (§Resource Token Verification
 * steps 1–7 and the sub-agent variant) and a `subagent_token` (§Parent-Mediated Authorization), plus
 * the mission checks both endpoints share. An `upstream_token` is `upstream-token.ts`'s.
 */

/** The verified signer of a token request: the agent token from `Signature-Key` and the signing key. */
export interface RequestingAgent {
  readonly claims: AgentTokenClaims;
  /** RFC 7638 thumbprint of the key that verified the HTTP signature (the agent token's `cnf.jwk`). */
  readonly keyThumbprint: string;
  /** The agent token as presented: forwarded as `agent_token` to an AS (§PS-to-AS Token Request). */
  readonly raw?: string;
}

export function agentRefOf(agent: RequestingAgent): AgentRef {
  return { iss: agent.claims.iss, sub: agent.claims.sub };
}

/** §Single-Level Depth: "A PS MUST reject a token request signed by an agent whose agent token has a `parent_agent` claim". */
export function assertNotSubAgent(agent: RequestingAgent): void {
  if (agent.claims.parent_agent !== undefined) {
    throw new InvalidAgentToken('A sub-agent cannot request tokens; its parent requests them on its behalf.');
  }
}

async function verifyBodyToken<K extends 'agent' | 'resource'>(
  verifier: TokenVerifier,
  jwt: string,
  kind: K,
): Promise<VerifiedToken<K>> {
  try {
    return await verifier.verify(jwt, { kinds: [kind] });
  } catch (err) {
    if (err instanceof TokenVerificationError) throw tokenFailureToBodyError(err, kind);
    throw err;
  }
}

/**
 * §Parent-Mediated Authorization: the `subagent_token` verified per §Agent Token Verification without
 * step 5 (the parent, not the sub-agent, signs the request), and its `parent_agent` names the signer.
 */
export async function verifySubagentToken(
  verifier: TokenVerifier,
  jwt: string,
  signer: RequestingAgent,
): Promise<VerifiedToken<'agent'>> {
  const token = await verifyBodyToken(verifier, jwt, 'agent');
  if (token.claims.parent_agent !== signer.claims.sub) {
    throw new InvalidAgentToken('The subagent_token does not name the signing agent as its parent_agent.');
  }
  return token;
}

// --- Missions ------------------------------------------------------------------------------------------

/** Who the mission must belong to (plain JSON: it is kept with a pending request's plan). */
export interface MissionOwner {
  /** The owning agent. */
  readonly agent?: AgentRef;
  /** The person the mission must belong to. */
  readonly personId?: string;
}

/**
 * §Person Token Endpoint ("exists, is active, and belongs to this agent") and §Resource Token
 * Verification step 7. The mission is looked up by `(s256, owner)` in one query, so an unknown
 * mission and another agent's mission — active or terminated — are the same `404` (§Mission Endpoint
 * Errors); only the owner learns that its mission ended: `403 mission_terminated` with
 * `mission_status` and `termination_reason` (§Mission Status Errors). A mission seen past its
 * `expires_at` is terminated as `expired` then and there (§Mission Approval: "MUST treat a mission
 * past it as terminated").
 */
export async function assertMissionActive(
  missions: MissionLookup,
  s256: string,
  now: Date,
  owner: MissionOwner,
): Promise<MissionRecord> {
  const mission = await missions.findMission(s256, owner);
  if (mission === undefined) throw new MissionNotFound('No such mission, or it is not this agent’s.');
  const expired = mission.expiresAt !== undefined && now.getTime() >= mission.expiresAt.getTime();
  if (mission.status === 'active' && expired) await missions.terminate(s256, 'expired', now);
  if (mission.status !== 'active' || expired) {
    const reason = mission.status === 'active' ? 'expired' : mission.terminationReason;
    const extra: Record<string, unknown> = { mission_status: 'terminated' };
    if (reason !== undefined) extra.termination_reason = reason;
    throw new MissionTerminated('The mission has ended.', { extra });
  }
  return mission;
}

/** `expires_at` as a NumericDate, for `notAfter`. */
export function missionNotAfter(mission: MissionRecord | undefined): number | undefined {
  return mission?.expiresAt === undefined ? undefined : Math.floor(mission.expiresAt.getTime() / 1000);
}

// --- Resource token ------------------------------------------------------------------------------------

export interface ResourceTokenCheckDeps {
  /** This PS's issuer identifier. */
  readonly issuer: string;
  readonly verifier: TokenVerifier;
  readonly personTokens: PersonTokenRecordStore;
  readonly securityEvents: SecurityEventLog;
  /** The longest resource-token lifetime accepted (default: the spec's 5 minutes). */
  readonly resourceTokenMaxLifetimeSeconds?: number;
}

export interface CheckedResourceToken {
  readonly claims: ResourceTokenClaims;
  /** The retained record of the person token `presented_jti` names. */
  readonly record: PersonTokenRecord;
}

/** Claims §Resource Token Verification step 6 compares with the record, and the record fields. */
const RECORD_CLAIMS = [
  ['ps', 'ps'],
  ['sub', 'sub'],
  ['mission_s256', 'missionS256'],
  ['tenant', 'tenant'],
] as const;

/**
 * §Resource Token Verification steps 1–6 for a three-party request (`aud` = this PS), or with
 * `federation` also a four-party one (`aud` = an AS; the `ps` check of step 6 still binds it here). Step 5 compares
 * `agent_jkt` with `expectedAgentJkt`: the signing key's thumbprint, or the `subagent_token`'s
 * `cnf.jwk` in the sub-agent variant. Step 7 (the mission) is the caller's.
 */
export async function checkResourceToken(
  deps: ResourceTokenCheckDeps,
  jwt: string,
  signer: AgentRef,
  expectedAgentJkt: string,
  options: { readonly federation?: boolean } = {},
): Promise<CheckedResourceToken> {
  // Steps 1–3: typ, dwk, signature through issuer discovery, exp and iat.
  const { claims } = await verifyBodyToken(deps.verifier, jwt, 'resource');
  assertResourceTokenLifetime(claims, deps.resourceTokenMaxLifetimeSeconds);
  // Step 4. Four-party (aud = an AS): the PS brokers it (§Access Server Federation) where the caller
  // federates; the AS checks `aud` against itself, the PS that `ps` names it (below, step 6).
  if (claims.aud !== deps.issuer && options.federation !== true) {
    throw new InvalidResourceToken('The resource token is not for this person server.');
  }
  // Step 5.
  if (claims.agent_jkt !== expectedAgentJkt) {
    throw new InvalidResourceToken('The resource token is bound to another agent key (agent_jkt).');
  }
  // Step 6.
  const record = await deps.personTokens.findByJti(claims.presented_jti);
  if (record === undefined) {
    throw new UnknownPersonToken(
      'The person token named by presented_jti is not known to this person server.',
    );
  }
  // A revoked person token cannot stand behind a new authorization (§Token Revocation).
  if (record.revoked === true) {
    throw new InvalidResourceToken('The person token named by presented_jti has been revoked.');
  }
  const mismatched: string[] = [];
  // The person token's `aud` is the resource: a resource token from another resource cannot reuse it.
  if (claims.iss !== record.resource) mismatched.push('iss');
  for (const [claim, field] of RECORD_CLAIMS) {
    if ((claims[claim] ?? null) !== record[field]) mismatched.push(claim);
  }
  if (mismatched.length > 0) {
    await deps.securityEvents.record({
      event: 'resource_token.mismatch',
      detail: {
        resource: claims.iss,
        resource_token_jti: claims.jti,
        presented_jti: claims.presented_jti,
        mismatched,
        agent_iss: signer.iss,
        agent_sub: signer.sub,
      },
    });
    throw new InvalidResourceToken('The resource token does not match the person token it names.');
  }
  // The person token was issued to one agent; only that agent may redeem a resource token naming it.
  if (record.agentIss !== signer.iss || record.agentSub !== signer.sub) {
    await deps.securityEvents.record({
      event: 'resource_token.agent_mismatch',
      detail: {
        resource: claims.iss,
        resource_token_jti: claims.jti,
        presented_jti: claims.presented_jti,
        agent_iss: signer.iss,
        agent_sub: signer.sub,
      },
    });
    throw new InvalidResourceToken('The person token this resource token names was issued to another agent.');
  }
  return { claims, record };
}
