import {
  type AuthTokenClaims,
  type Capability,
  type Clock,
  completeTokenClaims,
  DWK,
  ExpiredAgentToken,
  Forbidden,
  type IdentifierPolicy,
  InvalidAgentToken,
  InvalidRequest,
  InvalidResourceToken,
  isAAuthError,
  isCapability,
  isEndpointUrl,
  issueToken,
  type PublicJwk,
  type R3DocumentFetcher,
  type ResourceInteraction,
  readR3Reference,
  ServerError,
  type TokenSigner,
  type TokenVerifier,
  UserUnreachable,
} from '@aauth-ref/core';
import type { FederationClient } from './federation-client.js';
import type { FederatedFacts, FederationRelay, RelayAnswer } from './federation-relay.js';
import type {
  AgentBindingLookup,
  AgentRef,
  DirectedSubjectStore,
  IssuedAuthTokenStore,
  MissionLog,
  MissionLookup,
  MissionRecord,
  PersonLookup,
  PersonRecord,
  PersonTokenRecordStore,
  ScopeConsentRecord,
  ScopeConsentStore,
  SecurityEventLog,
} from './ports.js';
import {
  decideR3,
  defaultR3Choices,
  planR3,
  type R3Choice,
  type R3Decision,
  type R3Plan,
  r3TokenClaims,
  rememberedR3Decision,
  rememberR3,
} from './r3-consent.js';
import {
  agentRefOf,
  assertMissionActive,
  assertNotSubAgent,
  checkResourceToken,
  type MissionOwner,
  missionNotAfter,
  type RequestingAgent,
  verifySubagentToken,
} from './resource-token-check.js';
import { type Platform, type PromptValue, parseAuthTokenParams } from './token-request-params.js';
import { verifyUpstreamToken } from './upstream-token.js';

/**
 * The auth token endpoint's three-party decisions (§PS Token Endpoint, §PS Response, §Auth Token
 * Structure, §Resource Token Verification, §Parent-Mediated Authorization, §Upstream Token
 * Verification, §Scopes), and four-party federation when a `federation` client is configured: a
 * resource token whose `aud` is an AS is brokered there (§Access Server Federation), else refused with
 * `invalid_resource_token`.
 */

export interface AuthTokenServiceDeps {
  readonly clock: Clock;
  /** This PS's issuer identifier: the resource token's `aud`, and `iss` = `ps` of what it issues. */
  readonly issuer: string;
  readonly signer: TokenSigner;
  readonly verifier: TokenVerifier;
  readonly identifierPolicy: IdentifierPolicy;
  /** The longest resource-token lifetime accepted (§Resource Token Structure). */
  readonly resourceTokenMaxLifetimeSeconds?: number;
  readonly bindings: AgentBindingLookup;
  readonly persons: PersonLookup;
  readonly missions: MissionLookup;
  readonly personTokens: PersonTokenRecordStore;
  readonly scopeConsents: ScopeConsentStore;
  readonly issuedAuthTokens: IssuedAuthTokenStore;
  /** §Upstream Token Verification: an AS's upstream `sub` is mapped back to the person here. */
  readonly directedSubjects: Pick<DirectedSubjectStore, 'find'>;
  readonly securityEvents: SecurityEventLog;
  /** §Mission Log: token requests under a mission, with justification and decision. */
  readonly missionLog?: MissionLog;
  /** §Access Server Federation: absent, a resource token for an AS is `invalid_resource_token`. */
  readonly federation?: FederationClient;
  /** The AS's deferred steps relayed to the agent at the PS's own pending URL (with `federation`). */
  readonly federationRelay?: FederationRelay;
  /** R3 §R3 Processing: absent, a resource token with `r3_uri` is `invalid_resource_token`. */
  readonly r3Documents?: R3DocumentFetcher;
}

/** What the agent said about the request, kept for the consent page and the dashboard. */
export interface AuthRequestContext {
  readonly justification?: string;
  readonly login_hint?: string;
  readonly tenant?: string;
  readonly domain_hint?: string;
  readonly prompt: readonly PromptValue[];
  readonly platform?: Platform;
  readonly device?: string;
}

/** Everything decided before the person's answer, as plain JSON (kept with a pending request). */
export interface AuthTokenPlan {
  /** The resource token's `iss`: the auth token's `aud`. */
  readonly resource: string;
  readonly agent: AgentRef;
  readonly subagentSub?: string;
  readonly cnfJwk: PublicJwk;
  readonly cnfJkt: string;
  readonly personId: string;
  readonly sub: string;
  /** The resource token's `scope`: the most the auth token may carry (§Scopes). */
  readonly scope?: string;
  readonly account?: string;
  readonly missionS256?: string;
  readonly missionOwner?: MissionOwner;
  readonly tenant?: string;
  readonly resourceTokenJti: string;
  /** NumericDates the token must not outlive: the `exp` of every agent token presented. */
  readonly notAfter: readonly number[];
  readonly context: AuthRequestContext;
  /** §Resource-Initiated Interaction: the resource's own flow, run before the PS's consent. */
  readonly resourceInteraction?: ResourceInteraction;
  /** R3: the verified document the resource token names (`r3_uri`, `r3_s256`). */
  readonly r3?: R3Plan;
}

export interface IssuedAuthToken {
  readonly kind: 'issued';
  readonly authToken: string;
  readonly expiresIn: number;
  readonly claims: AuthTokenClaims;
}

/**
 * `r3`: the R3 document is not covered by an earlier decision on the same class document (by
 * `r3_s256`); a per-call proposal always is put to the person.
 */
export type ConsentReason = 'scope' | 'prompt' | 'resource_interaction' | 'r3';

export interface AuthTokenNeedsConsent {
  readonly kind: 'needs_consent';
  readonly reasons: readonly ConsentReason[];
  readonly plan: AuthTokenPlan;
  /** Declared in the request, else captured with the mission, else none (§AAuth-Capabilities). */
  readonly capabilities: readonly Capability[];
}

/** §AS Response: the AS deferred; the agent polls the PS's pending URL `/pending/{id}`. */
export interface FederationDeferred {
  readonly kind: 'federation_deferred';
  readonly pendingId: string;
  readonly answer: RelayAnswer & { kind: 'pending' };
}

export type AuthTokenOutcome = IssuedAuthToken | AuthTokenNeedsConsent | FederationDeferred;

export interface AuthTokenService {
  requestAuthToken(signer: RequestingAgent, body: unknown): Promise<AuthTokenOutcome>;
  /**
   * After the person approved. `grantedScope` narrows the plan's scope (the person may deselect);
   * absent, the whole requested scope is granted. `r3Choices` answers each R3 operation (absent: the
   * PS's defaults). The scope consent is remembered, with the decision on an R3 class document
   * (never on a per-call proposal).
   */
  completeAuthToken(
    plan: AuthTokenPlan,
    approval: {
      readonly personId: string;
      readonly grantedScope?: string;
      readonly r3Choices?: readonly R3Choice[];
    },
  ): Promise<IssuedAuthToken>;
  /** Polls, answers and cancellations of a deferred four-party request (absent without federation). */
  readonly federation?: FederationRelay;
}

/** OpenID Connect Core §5.4: the claims each identity scope releases, from the person record. */
const IDENTITY_CLAIMS: Readonly<Record<string, (person: PersonRecord) => Record<string, string>>> = {
  profile: (person) => ({ name: person.displayName }),
  email: (person): Record<string, string> => (person.email === null ? {} : { email: person.email }),
};

export function splitScope(scope: string | undefined): string[] {
  return scope === undefined ? [] : scope.split(' ').filter((value) => value.length > 0);
}

/**
 * Whether earlier consents cover `requested`: the union of the person's consents for this agent at
 * this resource that apply — given without a mission (a standing grant), or under this mission —
 * contains every requested value. A request for no scope is covered by any applicable consent.
 */
export function isScopeCovered(
  consents: readonly ScopeConsentRecord[],
  requested: readonly string[],
  missionS256: string | undefined,
  r3S256?: string,
): boolean {
  const applicable = consents.filter(
    (c) =>
      (c.missionS256 === null || c.missionS256 === missionS256) &&
      // A decision on an R3 document that granted no scope is no scope consent for other requests
      // (it would cover every later request without scope); for the same document it is.
      (c.r3 === undefined || c.scope !== '' || c.r3.r3S256 === r3S256),
  );
  if (applicable.length === 0) return false;
  const granted = new Set(applicable.flatMap((c) => splitScope(c.scope)));
  return requested.every((value) => granted.has(value));
}

export function createAuthTokenService(deps: AuthTokenServiceDeps): AuthTokenService {
  /** §Mission Log: "token requests (with justifications)" and the governance decision on each. */
  async function logRequest(
    plan: AuthTokenPlan,
    decision: string,
    scope?: string,
    r3?: R3Decision,
  ): Promise<void> {
    if (plan.missionS256 === undefined || deps.missionLog === undefined) return;
    const detail: Record<string, unknown> = { resource: plan.resource, decision };
    if (plan.scope !== undefined) detail.requested_scope = plan.scope;
    if (scope !== undefined) detail.scope = scope;
    if (plan.context.justification !== undefined) detail.justification = plan.context.justification;
    if (plan.r3 !== undefined) {
      // R3 §Auth Token Extensions: the document the person decided on, by hash (audit provenance).
      detail.r3_uri = plan.r3.r3_uri;
      detail.r3_s256 = plan.r3.r3_s256;
      if (plan.r3.proposal) detail.r3_proposal = true;
    }
    if (r3 !== undefined) {
      detail.r3_granted = r3.granted;
      if (r3.perCall.length > 0) detail.r3_per_call = r3.perCall;
    }
    await deps.missionLog.append(plan.missionS256, { kind: 'token_request', detail });
  }

  async function issue(
    plan: AuthTokenPlan,
    scope: string | undefined,
    r3?: R3Decision,
  ): Promise<IssuedAuthToken> {
    const now = deps.clock.now();
    if (plan.notAfter.some((exp) => exp * 1000 <= now)) {
      throw new ExpiredAgentToken('The agent token expired before the auth token could be issued.');
    }
    let mission: MissionRecord | undefined;
    if (plan.missionS256 !== undefined) {
      mission = await assertMissionActive(
        deps.missions,
        plan.missionS256,
        new Date(now),
        plan.missionOwner ?? { agent: plan.agent, personId: plan.personId },
      );
    }
    const person = await deps.persons.findPerson(plan.personId);
    if (person === undefined) throw new UserUnreachable('The person this agent acts for is no longer known.');
    const input: Record<string, unknown> = {
      iss: deps.issuer,
      dwk: DWK.person,
      aud: plan.resource,
      ps: deps.issuer,
      sub: plan.sub,
      cnf: { jwk: plan.cnfJwk },
    };
    const granted = splitScope(scope);
    for (const value of granted) Object.assign(input, IDENTITY_CLAIMS[value]?.(person));
    if (scope !== undefined) input.scope = granted.join(' ');
    if (plan.account !== undefined) input.account = plan.account;
    if (plan.missionS256 !== undefined) input.mission_s256 = plan.missionS256;
    if (plan.tenant !== undefined) input.tenant = plan.tenant;
    if (plan.r3 !== undefined) {
      if (r3 === undefined) throw new TypeError('an R3 plan is issued with a decision');
      Object.assign(input, r3TokenClaims(plan.r3, r3));
    }
    // §Auth Token Structure: ≤ 1 h and never past the mission's expires_at; like a person token, not
    // past the agent token(s) presented with the request.
    const claims = completeTokenClaims('auth', input as unknown as AuthTokenClaims, {
      clock: deps.clock,
      notAfter: [...plan.notAfter, missionNotAfter(mission)],
    });
    const issuedAt = new Date(claims.iat * 1000);
    await deps.issuedAuthTokens.insert(
      {
        jti: claims.jti,
        iss: claims.iss,
        aud: claims.aud,
        sub: claims.sub,
        scope: claims.scope ?? null,
        missionS256: claims.mission_s256 ?? null,
        personId: plan.personId,
        agentIss: plan.agent.iss,
        agentSub: plan.agent.sub,
        cnfJkt: plan.cnfJkt,
        issuedAt,
        exp: new Date(claims.exp * 1000),
        revokedAt: null,
      },
      // R3 §AS Processing step 4 / §Audit Log Integrity: written with the token record, atomically.
      plan.r3 === undefined
        ? undefined
        : {
            r3Uri: plan.r3.r3_uri,
            r3S256: plan.r3.r3_s256,
            ps: claims.ps,
            sub: claims.sub,
            // §Resource Token Verification step 5 made the resource token's agent_jkt this key.
            agentJkt: plan.cnfJkt,
            agentIss: plan.agent.iss,
            agentSub: plan.agent.sub,
            subagentSub: plan.subagentSub ?? null,
            r3Granted: claims.r3_granted,
            r3PerCall: claims.r3_per_call ?? null,
            proposal: plan.r3.proposal,
            missionS256: claims.mission_s256 ?? null,
            issuedAt,
          },
    );
    const authToken = issueToken('auth', claims, deps.signer, { clock: deps.clock });
    return { kind: 'issued', authToken, expiresIn: claims.exp - Math.floor(now / 1000), claims };
  }

  /**
   * §Access Server Federation: the AS decides and issues; the PS has verified the resource token,
   * the binding and the mission, forwards the request, checks what comes back (§Auth Token Delivery)
   * and records it with `iss` = the AS.
   */
  async function federate(
    federation: FederationClient,
    relay: FederationRelay,
    input: {
      readonly signer: RequestingAgent;
      readonly agent: AgentRef;
      readonly params: ReturnType<typeof parseAuthTokenParams>;
      readonly claims: {
        iss: string;
        aud: string;
        sub: string;
        scope?: string;
        mission_s256?: string;
        r3_uri?: string;
        r3_s256?: string;
      };
      readonly personId: string;
      readonly cnfJkt: string;
      readonly notAfter: number | undefined;
      readonly r3Reference: ReturnType<typeof readR3Reference>;
    },
  ): Promise<IssuedAuthToken | FederationDeferred> {
    const { signer, agent, params, claims } = input;
    if (signer.raw === undefined) throw new ServerError('The agent token is not available to forward.');
    // R3 §R3 Processing: the PS fetches (and verifies by hash) the document too, to render its
    // `display` should the AS ask for the person. Without a fetcher the AS alone reads it.
    const r3Plan =
      input.r3Reference === undefined || deps.r3Documents === undefined
        ? undefined
        : planR3(await deps.r3Documents.fetch(input.r3Reference, claims.iss));
    const facts: FederatedFacts = {
      accessServer: claims.aud,
      resource: claims.iss,
      sub: claims.sub,
      cnfJkt: input.cnfJkt,
      personId: input.personId,
      agent,
      ...(claims.scope === undefined ? {} : { scope: claims.scope }),
      ...(input.notAfter === undefined ? {} : { notAfter: input.notAfter }),
      ...(claims.mission_s256 === undefined ? {} : { missionS256: claims.mission_s256 }),
      ...(params.justification === undefined ? {} : { justification: params.justification }),
      ...(claims.r3_uri === undefined || claims.r3_s256 === undefined
        ? {}
        : { r3Uri: claims.r3_uri, r3S256: claims.r3_s256 }),
      ...(r3Plan === undefined ? {} : { r3Plan }),
    };
    let outcome: Awaited<ReturnType<FederationClient['start']>>;
    try {
      outcome = await federation.start({
        ...facts,
        resourceToken: params.resource_token,
        agentToken: signer.raw,
        ...(params.subagent_token === undefined ? {} : { subagentToken: params.subagent_token }),
        ...(params.upstream_token === undefined ? {} : { upstreamToken: params.upstream_token }),
      });
    } catch (err) {
      await relay.log(facts, isAAuthError(err) ? err.error : 'server_error');
      throw err;
    }
    if (outcome.kind === 'deferred') {
      // The AS waits on someone (or keeps deciding): the agent polls the PS's own pending URL.
      const { id, answer } = await relay.defer(
        { agentIss: agent.iss, agentSub: agent.sub, durableJkt: null },
        facts,
        outcome.state,
      );
      return { kind: 'federation_deferred', pendingId: id, answer };
    }
    await relay.recordIssued(facts, outcome.token);
    const { token } = outcome;
    return { kind: 'issued', authToken: token.authToken, expiresIn: token.expiresIn, claims: token.claims };
  }

  return {
    ...(deps.federationRelay === undefined ? {} : { federation: deps.federationRelay }),

    async requestAuthToken(signer, body) {
      const params = parseAuthTokenParams(body);
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
      // Steps 1–6; in the sub-agent variant step 5 compares with the sub-agent's key.
      const { claims, record } = await checkResourceToken(deps, params.resource_token, agent, cnfJkt, {
        federation: deps.federation !== undefined && deps.federationRelay !== undefined,
      });

      if (params.upstream_token !== undefined) {
        const upstream = await verifyUpstreamToken(deps, params.upstream_token, signer);
        if (upstream.personId !== record.personId) {
          throw new InvalidRequest('The upstream_token was issued for another person.');
        }
      } else if ((await deps.bindings.findBoundPerson(agent)) !== record.personId) {
        // §Agent-Person Binding: a revoked or changed binding stops new auth tokens at once.
        throw new InvalidAgentToken('This agent is not bound to the person the resource token names.');
      }

      // Step 7. Under call chaining the mission is the upstream agent's (the same person's).
      const missionOwner: MissionOwner =
        params.upstream_token === undefined
          ? { agent, personId: record.personId }
          : { personId: record.personId };
      let mission: MissionRecord | undefined;
      if (claims.mission_s256 !== undefined) {
        mission = await assertMissionActive(
          deps.missions,
          claims.mission_s256,
          new Date(deps.clock.now()),
          missionOwner,
        );
      }
      if (deps.federation !== undefined && deps.federationRelay !== undefined && claims.aud !== deps.issuer) {
        return federate(deps.federation, deps.federationRelay, {
          signer,
          agent,
          params,
          claims,
          personId: record.personId,
          cnfJkt,
          notAfter: missionNotAfter(mission),
          r3Reference: readR3Reference(claims, deps.identifierPolicy),
        });
      }
      if (claims.interaction !== undefined && !isEndpointUrl(claims.interaction.url, deps.identifierPolicy)) {
        // §Resource-Initiated Interaction: "The `interaction.url` MUST be an HTTPS URL."
        throw new InvalidResourceToken('The resource token interaction url must be an https URL.');
      }
      // R3 §R3 Processing: fetched (signed, hash-verified) before the person is asked anything.
      let r3: R3Plan | undefined;
      const r3Reference = readR3Reference(claims, deps.identifierPolicy);
      if (r3Reference !== undefined) {
        if (deps.r3Documents === undefined) {
          throw new InvalidResourceToken('This person server does not process R3 resource tokens.');
        }
        r3 = planR3(await deps.r3Documents.fetch(r3Reference, claims.iss));
      }

      const context: { -readonly [K in keyof AuthRequestContext]: AuthRequestContext[K] } = {
        prompt: params.prompt,
      };
      for (const name of [
        'justification',
        'login_hint',
        'tenant',
        'domain_hint',
        'platform',
        'device',
      ] as const) {
        if (params[name] !== undefined) (context as Record<string, unknown>)[name] = params[name];
      }
      const plan: AuthTokenPlan = {
        resource: claims.iss,
        agent,
        cnfJwk,
        cnfJkt,
        personId: record.personId,
        sub: claims.sub,
        resourceTokenJti: claims.jti,
        notAfter,
        context,
        ...(subagentSub === undefined ? {} : { subagentSub }),
        ...(claims.scope === undefined ? {} : { scope: claims.scope }),
        ...(claims.account === undefined ? {} : { account: claims.account }),
        ...(claims.mission_s256 === undefined ? {} : { missionS256: claims.mission_s256, missionOwner }),
        ...(claims.tenant === undefined ? {} : { tenant: claims.tenant }),
        ...(claims.interaction === undefined
          ? {}
          : { resourceInteraction: { url: claims.interaction.url, code: claims.interaction.code } }),
        ...(r3 === undefined ? {} : { r3 }),
      };

      const reasons: ConsentReason[] = [];
      if (plan.resourceInteraction !== undefined) reasons.push('resource_interaction');
      if (params.prompt.some((value) => value !== 'none')) reasons.push('prompt');
      const consents = await deps.scopeConsents.list({
        personId: record.personId,
        agent,
        resource: plan.resource,
      });
      const rememberedR3 =
        plan.r3 === undefined ? undefined : rememberedR3Decision(plan.r3, consents, plan.missionS256);
      if (plan.r3 !== undefined && rememberedR3 === undefined) reasons.push('r3');
      if (!isScopeCovered(consents, splitScope(plan.scope), plan.missionS256, plan.r3?.r3_s256)) {
        reasons.push('scope');
      }
      if (reasons.length === 0) {
        const issued = await issue(plan, plan.scope, rememberedR3);
        // Covered by consent already given (within this mission, or standing): no new question.
        await logRequest(plan, 'issued', issued.claims.scope, rememberedR3);
        return issued;
      }
      // prompt=none: the agent asked not to involve the person, and the person must be involved.
      if (params.prompt.includes('none')) {
        await logRequest(plan, 'user_unreachable');
        throw new UserUnreachable('The person must be asked, and prompt=none forbids it.');
      }
      await logRequest(plan, 'consent_required');
      const capabilities = params.capabilities ?? mission?.capabilities?.filter(isCapability) ?? [];
      return { kind: 'needs_consent', reasons, plan, capabilities };
    },

    async completeAuthToken(plan, approval) {
      if (plan.personId !== approval.personId) throw new Forbidden('This request is for another person.');
      const requested = new Set(splitScope(plan.scope));
      const grantedScope = approval.grantedScope ?? plan.scope;
      // §Scopes: "The auth token's scope MUST NOT be broader than the resource token's scope."
      if (splitScope(grantedScope).some((value) => !requested.has(value))) {
        throw new TypeError('the granted scope is broader than the resource token scope');
      }
      const r3 =
        plan.r3 === undefined
          ? undefined
          : decideR3(plan.r3, approval.r3Choices ?? defaultR3Choices(plan.r3));
      // §Per-Call Proposals: approving one call is never a standing consent. A class document's
      // decision is remembered with the scope by its r3_s256 (isScopeCovered keeps a scope-less one
      // from covering other requests).
      const rememberedR3 = plan.r3 === undefined || r3 === undefined ? undefined : rememberR3(plan.r3, r3);
      if (plan.r3 === undefined || rememberedR3 !== undefined) {
        await deps.scopeConsents.grant(
          { personId: plan.personId, agent: plan.agent, resource: plan.resource },
          {
            scope: splitScope(grantedScope).join(' '),
            missionS256: plan.missionS256 ?? null,
            ...(rememberedR3 === undefined ? {} : { r3: rememberedR3 }),
          },
        );
      }
      const issued = await issue(plan, grantedScope, r3);
      await logRequest(plan, 'approved', issued.claims.scope, r3);
      return issued;
    },
  };
}
