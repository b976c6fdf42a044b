import {
  type Capability,
  type Clock,
  completeTokenClaims,
  DWK,
  ExpiredAgentToken,
  Forbidden,
  type IdentifierPolicy,
  InvalidRequest,
  isCapability,
  issueToken,
  type PersonTokenClaims,
  type PublicJwk,
  SlowDown,
  type TokenSigner,
  type TokenVerifier,
  UserUnreachable,
} from '@aauth-ref/core';
import { resolveDirectedSubject } from './directed-subject.js';
import type {
  AgentRef,
  DirectedSubjectStore,
  IssuedAuthTokenStore,
  MissionLog,
  MissionLookup,
  MissionRecord,
  PersonLookup,
  PersonRecord,
  PersonTokenFacts,
  PersonTokenFactsLookup,
  PersonTokenRecordStore,
  ResourceConsentStore,
} from './ports.js';
import {
  agentRefOf,
  assertMissionActive,
  assertNotSubAgent,
  type MissionOwner,
  missionNotAfter,
  type RequestingAgent,
  verifySubagentToken,
} from './resource-token-check.js';
import { parsePersonTokenParams } from './token-request-params.js';
import { verifyUpstreamToken } from './upstream-token.js';

/**
 * The person token endpoint's decisions (§Person Token Endpoint, §Person Token Structure,
 * §Parent-Mediated Authorization, §Call Chaining, §Person Token Exposure). The route hands in the
 * verified signer and the parsed JSON body; the outcome is a signed token or a consent the platform
 * must obtain (a `202` interaction, or `403 user_unreachable` when the agent cannot bring the person).
 */

export interface PersonTokenServiceDeps {
  readonly clock: Clock;
  /** This PS's issuer identifier (`iss` of what it signs). */
  readonly issuer: string;
  /** The PS's active signing key. */
  readonly signer: TokenSigner;
  /** Verifies body tokens; its key resolver must answer this PS's own keys locally. */
  readonly verifier: TokenVerifier;
  readonly identifierPolicy: IdentifierPolicy;
  readonly persons: PersonLookup;
  readonly missions: MissionLookup;
  readonly directedSubjects: DirectedSubjectStore;
  readonly personTokens: PersonTokenRecordStore;
  readonly resourceConsents: ResourceConsentStore;
  readonly issuedAuthTokens: IssuedAuthTokenStore;
  /**
   * The binding, consent, prior-issuance, person and directed-subject reads of one request together
   * (the Prisma store answers them in one statement).
   */
  readonly personTokenFacts: PersonTokenFactsLookup;
  /** §Mission Log: person tokens issued under a mission. */
  readonly missionLog?: MissionLog;
  /** Resources new to one agent it may obtain person tokens for per hour (default 50). */
  readonly maxNewResourcesPerHour?: number;
}

/**
 * Everything decided before the person's answer, as plain JSON, so the platform can keep it with a
 * pending request and complete it after consent.
 */
export interface PersonTokenPlan {
  readonly resource: string;
  /** The agent that signed the request (the parent, for a sub-agent). */
  readonly agent: AgentRef;
  readonly subagentSub?: string;
  /** The key the token binds: the signer's, or the sub-agent's. */
  readonly cnfJwk: PublicJwk;
  readonly cnfJkt: string;
  /** Absent when the agent is not bound to a person yet (the platform binds it at consent). */
  readonly personId?: string;
  readonly missionS256?: string;
  readonly missionOwner?: MissionOwner;
  /** NumericDates the token must not outlive: the `exp` of every agent token presented. */
  readonly notAfter: readonly number[];
}

export interface IssuedPersonToken {
  readonly kind: 'issued';
  readonly personToken: string;
  /** Seconds until `exp` (the response's `expires_in`). */
  readonly expiresIn: number;
  readonly claims: PersonTokenClaims;
}

export interface PersonTokenNeedsConsent {
  readonly kind: 'needs_consent';
  /** `agent_binding`: no person is bound to this agent yet; `new_resource`: first token for this resource. */
  readonly reason: 'agent_binding' | 'new_resource';
  readonly plan: PersonTokenPlan;
  /** What the agent declared (or its mission captured): `interaction` decides `202` vs `403`. */
  readonly capabilities: readonly Capability[];
}

export type PersonTokenOutcome = IssuedPersonToken | PersonTokenNeedsConsent;

export interface PersonTokenService {
  requestPersonToken(signer: RequestingAgent, body: unknown): Promise<PersonTokenOutcome>;
  /** After the person approved (and, for `agent_binding`, the platform bound the agent to them). */
  completePersonToken(
    plan: PersonTokenPlan,
    approval: { readonly personId: string },
  ): Promise<IssuedPersonToken>;
}

/** What `issue` would otherwise read again: the mission checked moments ago, the person, the `sub`. */
interface KnownFacts {
  /** Set (possibly to `undefined`) when the mission check already ran for this request. */
  readonly mission?: { readonly record: MissionRecord | undefined };
  readonly person?: PersonRecord;
  readonly sub?: string;
}

const DEFAULT_MAX_NEW_RESOURCES_PER_HOUR = 50;
const HOUR_MS = 3_600_000;
/** The window slides; a client retrying after this many seconds sees some of it freed. */
const RATE_LIMIT_RETRY_AFTER_SECONDS = 300;

export function createPersonTokenService(deps: PersonTokenServiceDeps): PersonTokenService {
  const maxNewResources = deps.maxNewResourcesPerHour ?? DEFAULT_MAX_NEW_RESOURCES_PER_HOUR;

  /** §Person Token Endpoint: "A PS SHOULD rate-limit the number of distinct `resource` values it accepts from one agent". */
  async function enforceResourceRate(agent: AgentRef, known: PersonTokenFacts): Promise<void> {
    if (known.issuedForResource) return;
    const since = new Date(deps.clock.now() - HOUR_MS);
    if ((await deps.personTokens.countNewResourcesSince(agent, since)) >= maxNewResources) {
      throw new SlowDown('This agent has requested person tokens for too many new resources; retry later.', {
        headers: { 'retry-after': String(RATE_LIMIT_RETRY_AFTER_SECONDS) },
      });
    }
  }

  async function issue(
    plan: PersonTokenPlan,
    personId: string,
    known: KnownFacts = {},
  ): Promise<IssuedPersonToken> {
    const now = deps.clock.now();
    if (plan.notAfter.some((exp) => exp * 1000 <= now)) {
      throw new ExpiredAgentToken('The agent token expired before the person token could be issued.');
    }
    let mission = known.mission?.record;
    if (known.mission === undefined && plan.missionS256 !== undefined) {
      mission = await assertMissionActive(
        deps.missions,
        plan.missionS256,
        new Date(now),
        plan.missionOwner ?? { agent: plan.agent },
      );
    }
    const person = known.person ?? (await deps.persons.findPerson(personId));
    if (person === undefined) throw new UserUnreachable('The person this agent acts for is no longer known.');
    const sub = known.sub ?? (await resolveDirectedSubject(deps.directedSubjects, personId, plan.resource));
    const input: Record<string, unknown> = {
      iss: deps.issuer,
      dwk: DWK.person,
      aud: plan.resource,
      sub,
      cnf: { jwk: plan.cnfJwk },
    };
    if (plan.missionS256 !== undefined) input.mission_s256 = plan.missionS256;
    if (person.tenant !== null) input.tenant = person.tenant;
    // §Person Token Structure: ≤ 1 h, not past the agent token(s), not past the mission's expires_at.
    const claims = completeTokenClaims('person', input as unknown as PersonTokenClaims, {
      clock: deps.clock,
      notAfter: [...plan.notAfter, missionNotAfter(mission)],
    });
    // Recorded before signing: a token this PS signed always has its record (§Person Token Endpoint).
    await deps.personTokens.insert({
      jti: claims.jti,
      ps: claims.iss,
      sub: claims.sub,
      missionS256: claims.mission_s256 ?? null,
      tenant: claims.tenant ?? null,
      exp: new Date(claims.exp * 1000),
      resource: plan.resource,
      personId,
      agentIss: plan.agent.iss,
      agentSub: plan.agent.sub,
      subagentSub: plan.subagentSub ?? null,
      cnfJkt: plan.cnfJkt,
      issuedAt: new Date(claims.iat * 1000),
    });
    const personToken = issueToken('person', claims, deps.signer, { clock: deps.clock });
    if (plan.missionS256 !== undefined) {
      await deps.missionLog?.append(plan.missionS256, {
        kind: 'person_token',
        detail: { resource: plan.resource, decision: 'issued' },
      });
    }
    return {
      kind: 'issued',
      personToken,
      expiresIn: claims.exp - Math.floor(now / 1000),
      claims,
    };
  }

  return {
    async requestPersonToken(signer, body) {
      const params = parsePersonTokenParams(body, deps.identifierPolicy);
      assertNotSubAgent(signer);
      const agent = agentRefOf(signer);
      const notAfter = [signer.claims.exp];
      let cnfJwk = signer.claims.cnf.jwk;
      let cnfJkt = signer.keyThumbprint;
      let subagentSub: string | undefined;
      if (params.subagent_token !== undefined) {
        const subagent = await verifySubagentToken(deps.verifier, params.subagent_token, signer);
        cnfJwk = subagent.claims.cnf.jwk;
        cnfJkt = subagent.cnfKey.thumbprint;
        subagentSub = subagent.claims.sub;
        notAfter.push(subagent.claims.exp);
      }

      let personId: string | undefined;
      let missionS256 = params.mission_s256;
      let missionOwner: MissionOwner | undefined;
      let known: PersonTokenFacts;
      if (params.upstream_token !== undefined) {
        // §Call Chaining: the person is the one the upstream authorization was issued for, and its
        // mission context carries downstream.
        const upstream = await verifyUpstreamToken(deps, params.upstream_token, signer);
        personId = upstream.personId;
        known = await deps.personTokenFacts.findPersonTokenFacts({
          agent,
          resource: params.resource,
          personId,
        });
        const upstreamMission = upstream.claims.mission_s256;
        if (upstreamMission !== undefined) {
          if (missionS256 !== undefined && missionS256 !== upstreamMission) {
            throw new InvalidRequest('mission_s256 differs from the mission of the upstream_token.');
          }
          missionS256 = upstreamMission;
          missionOwner = { personId };
        } else if (missionS256 !== undefined) {
          missionOwner = { agent, personId };
        }
      } else {
        known = await deps.personTokenFacts.findPersonTokenFacts({ agent, resource: params.resource });
        personId = known.personId;
        if (missionS256 !== undefined) {
          missionOwner = personId === undefined ? { agent } : { agent, personId };
        }
      }

      let mission: MissionRecord | undefined;
      if (missionS256 !== undefined) {
        mission = await assertMissionActive(
          deps.missions,
          missionS256,
          new Date(deps.clock.now()),
          missionOwner ?? { agent },
        );
      }
      await enforceResourceRate(agent, known);

      const plan: PersonTokenPlan = {
        resource: params.resource,
        agent,
        cnfJwk,
        cnfJkt,
        notAfter,
        ...(subagentSub === undefined ? {} : { subagentSub }),
        ...(personId === undefined ? {} : { personId }),
        ...(missionS256 === undefined ? {} : { missionS256, missionOwner }),
      };
      const capabilities = params.capabilities ?? mission?.capabilities?.filter(isCapability) ?? [];
      if (personId === undefined)
        return { kind: 'needs_consent', reason: 'agent_binding', plan, capabilities };
      // §Person Token Exposure: the first person token for a resource needs the person's approval.
      if (!known.consented) return { kind: 'needs_consent', reason: 'new_resource', plan, capabilities };
      return issue(plan, personId, {
        mission: { record: mission },
        ...(known.person === undefined ? {} : { person: known.person }),
        ...(known.sub === undefined ? {} : { sub: known.sub }),
      });
    },

    async completePersonToken(plan, approval) {
      // §Agent-Person Binding: "the PS MUST NOT allow a different person to claim the same agent".
      if (plan.personId !== undefined && plan.personId !== approval.personId) {
        throw new Forbidden('This agent acts for another person.');
      }
      await deps.resourceConsents.grant({
        personId: approval.personId,
        agent: plan.agent,
        resource: plan.resource,
      });
      return issue(plan, approval.personId);
    },
  };
}
