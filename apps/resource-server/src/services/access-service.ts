import {
  type AAuthRequirement,
  type AgentTokenClaims,
  type AuthTokenClaims,
  type Clock,
  DWK,
  epochSeconds,
  InvalidJwt,
  InvalidPersonToken,
  issueToken,
  type PersonTokenClaims,
  type TokenSigner,
} from '@aauth-ref/core';
import type { PersonServerTrust } from '../config.js';
import { DEFAULT_NOTEBOOK, hasScopes, splitScope } from '../scopes.js';
import type { AuthTokenRecord, PersonRef, PersonTokenRecord, TokenRecordStore } from './ports.js';

/**
 * The resource's protocol decisions (§Resource Access and Resource Tokens, §Auth Token Verification):
 * which person a request speaks for, whether its issuer is trusted, which challenge it earns, and the
 * resource tokens it issues. Plain data in and out; the routes turn decisions into replies.
 */

/** The verified signer of a request, as the routes hand it over (`null` when unsigned). */
export type Presented =
  | { readonly kind: 'agent'; readonly claims: AgentTokenClaims; readonly keyThumbprint: string }
  | { readonly kind: 'person'; readonly claims: PersonTokenClaims; readonly keyThumbprint: string }
  | { readonly kind: 'auth'; readonly claims: AuthTokenClaims; readonly keyThumbprint: string }
  /** Signed, but not with an AAuth token (e.g. `jwks_uri`, `hwk`). */
  | { readonly kind: 'other'; readonly keyThumbprint: string }
  | null;

export type Challenge = { readonly granted: false; readonly requirement: AAuthRequirement };

export type AuthDecision =
  | {
      readonly granted: true;
      readonly auth: AuthTokenRecord;
      /** Whose data: `(ps, sub)` of the auth token — `(iss, sub)` of the person token behind it. */
      readonly person: PersonRef;
      /** The notebook the token is bound to (`account`, §Account Binding). */
      readonly notebook: string;
    }
  | Challenge;

export type PersonDecision =
  | {
      readonly granted: true;
      readonly person: PersonRef;
      readonly tenant?: string;
      readonly mission_s256?: string;
      /** Which token established it. */
      readonly via: 'person-token' | 'auth-token';
    }
  | Challenge;

export interface ResourceTokenRequest {
  /** The verified person token the resource token names (`presented_jti`). */
  readonly person: PersonTokenRecord;
  /** Thumbprint of the key that signed the request (`agent_jkt`). */
  readonly agentJkt: string;
  readonly scopes: readonly string[];
  readonly account?: string;
  /** R3 §Resource Token Extensions: the document the token references (both claims or neither). */
  readonly r3?: { readonly r3_uri: string; readonly r3_s256: string };
}

/** What an R3-governed challenge knows when it composes its document. */
export interface R3ChallengeContext {
  readonly person: PersonRef;
  /** `account` of the auth token being stepped up, if any. */
  readonly account?: string;
}

export interface RequireAuthTokenOptions {
  /** Composes the R3 document a challenge's resource token references (R3-governed operations). */
  readonly r3?: (context: R3ChallengeContext) => Promise<{ r3_uri: string; r3_s256: string }>;
}

export interface AccessServiceDeps {
  readonly issuer: string;
  readonly clock: Clock;
  /** The active signing key, read at each issuance so a rotation takes effect at once. */
  readonly signer: () => TokenSigner;
  readonly records: TokenRecordStore;
  readonly personServerTrust: PersonServerTrust;
  readonly accessServer?: string;
  /** Scopes delegated to `accessServer`; `undefined` = all of them. */
  readonly accessServerScopes?: readonly string[];
  /** Every scope this resource defines (`scope_descriptions`). */
  readonly knownScopes: ReadonlySet<string>;
  readonly resourceTokenTtlSeconds: number;
  /**
   * Records the parties entitled to an R3 document (R3 §R3 Document Access Restriction: the `aud`
   * and the `ps` of a resource token carrying its `r3_uri`).
   */
  readonly entitleR3Readers?: (r3S256: string, parties: readonly string[], tokenExp: number) => Promise<void>;
}

export interface AccessService {
  /** §Person Token Verification step 5 and issuer trust; records the token. Throws `InvalidPersonToken` / `InvalidJwt`. */
  acceptPersonToken(presented: Extract<Presented, { kind: 'person' }>): Promise<PersonTokenRecord>;
  /** §Request-Context Binding step 5 and §JWT Trust; records the token. Throws `InvalidJwt`. */
  acceptAuthToken(presented: Extract<Presented, { kind: 'auth' }>): Promise<AuthTokenRecord>;
  /** §Resource Token Structure. With `r3`, use `mintResourceToken` so the readers are recorded. */
  issueResourceToken(request: ResourceTokenRequest): string;
  /** `issueResourceToken`, recording the R3 document's entitled readers first when it names one. */
  mintResourceToken(request: ResourceTokenRequest): Promise<string>;
  /** An endpoint that needs an auth token carrying `requiredScopes` (§Auth Token Required). */
  requireAuthToken(
    presented: Presented,
    requiredScopes: readonly string[],
    options?: RequireAuthTokenOptions,
  ): Promise<AuthDecision>;
  /**
   * A challenge to an accepted auth token that is not enough (step-up, R3 per-call): a resource
   * token naming the person token verified earlier for this key and person.
   */
  challengeAuthToken(
    keyThumbprint: string,
    auth: AuthTokenRecord,
    request: Pick<ResourceTokenRequest, 'scopes' | 'account' | 'r3'>,
  ): Promise<Challenge>;
  /** An endpoint that serves on the person's identity (§Person Identity Access). */
  requirePerson(presented: Presented): Promise<PersonDecision>;
  /** Whether `id` is a Person Server this resource trusts (revocation callers). */
  isTrustedPersonServer(id: string): Promise<boolean>;
}

const PERSON_TOKEN_REQUIRED: Challenge = { granted: false, requirement: { requirement: 'person-token' } };

export function createAccessService(deps: AccessServiceDeps): AccessService {
  const { issuer, clock, records } = deps;

  async function isTrustedPersonServer(id: string): Promise<boolean> {
    const trust = deps.personServerTrust;
    if (trust.mode === 'list') return trust.issuers.has(id);
    return records.hasPersonTokenFrom(id);
  }

  function audienceFor(person: PersonTokenRecord, scopes: readonly string[]): string {
    if (deps.accessServer === undefined) return person.iss;
    const delegated = deps.accessServerScopes;
    const toAccessServer = delegated === undefined || scopes.some((scope) => delegated.includes(scope));
    return toAccessServer ? deps.accessServer : person.iss;
  }

  function issueResourceToken(request: ResourceTokenRequest): string {
    const { person } = request;
    const claims = {
      iss: issuer,
      aud: audienceFor(person, request.scopes),
      ps: person.iss,
      sub: person.sub,
      presented_jti: person.jti,
      agent_jkt: request.agentJkt,
      scope: request.scopes.join(' '),
      ...(request.account === undefined ? {} : { account: request.account }),
      // Copied unchanged: dropping it would strip the mission (§Resource Token Structure).
      ...(person.mission_s256 === undefined ? {} : { mission_s256: person.mission_s256 }),
      ...(person.tenant === undefined ? {} : { tenant: person.tenant }),
      ...(request.r3 === undefined ? {} : { r3_uri: request.r3.r3_uri, r3_s256: request.r3.r3_s256 }),
    };
    return issueToken('resource', claims, deps.signer(), {
      clock,
      lifetimeSeconds: deps.resourceTokenTtlSeconds,
      // Never outlive the person token it names (which the PS capped at the mission's expires_at).
      notAfter: [person.exp],
    });
  }

  async function mintResourceToken(request: ResourceTokenRequest): Promise<string> {
    if (request.r3 !== undefined) {
      if (deps.entitleR3Readers === undefined)
        throw new TypeError('R3 resource tokens need entitleR3Readers');
      // Entitled before the token exists, so the AS or PS can fetch as soon as it sees the token.
      const aud = audienceFor(request.person, request.scopes);
      // The token's `exp` is at most this (issueToken may only shorten it), so retention covers it.
      const expBound = epochSeconds(clock) + deps.resourceTokenTtlSeconds;
      await deps.entitleR3Readers(request.r3.r3_s256, [aud, request.person.iss], expBound);
    }
    return issueResourceToken(request);
  }

  async function acceptPersonToken(
    presented: Extract<Presented, { kind: 'person' }>,
  ): Promise<PersonTokenRecord> {
    const { claims } = presented;
    if (claims.aud !== issuer)
      throw new InvalidPersonToken('The person token was issued for another resource.');
    const trust = deps.personServerTrust;
    if (trust.mode === 'list' && !trust.issuers.has(claims.iss)) {
      throw new InvalidJwt('The person token comes from a Person Server this resource does not trust.');
    }
    const record: PersonTokenRecord = {
      iss: claims.iss,
      jti: claims.jti,
      sub: claims.sub,
      ...(claims.mission_s256 === undefined ? {} : { mission_s256: claims.mission_s256 }),
      ...(claims.tenant === undefined ? {} : { tenant: claims.tenant }),
      exp: claims.exp,
      cnfJkt: presented.keyThumbprint,
    };
    await records.recordPersonToken(record, new Date(clock.now()));
    return record;
  }

  async function isTrustedAuthIssuer(claims: AuthTokenClaims): Promise<boolean> {
    if (claims.dwk === DWK.access) return deps.accessServer !== undefined && claims.iss === deps.accessServer;
    if (claims.dwk !== DWK.person) return false;
    // A PS asserts for its own namespace only (§Auth Token Structure: `ps` equals `iss`).
    return claims.ps === claims.iss && (await isTrustedPersonServer(claims.iss));
  }

  async function acceptAuthToken(presented: Extract<Presented, { kind: 'auth' }>): Promise<AuthTokenRecord> {
    const { claims } = presented;
    if (claims.aud !== issuer) throw new InvalidJwt('The auth token was issued for another resource.');
    if (!(await isTrustedAuthIssuer(claims))) {
      throw new InvalidJwt('The auth token comes from an issuer this resource does not trust.');
    }
    const record: AuthTokenRecord = {
      iss: claims.iss,
      jti: claims.jti,
      ps: claims.ps,
      sub: claims.sub,
      ...(claims.scope === undefined ? {} : { scope: claims.scope }),
      ...(claims.account === undefined ? {} : { account: claims.account }),
      exp: claims.exp,
      cnfJkt: presented.keyThumbprint,
    };
    await records.recordAuthToken(record, new Date(clock.now()));
    return record;
  }

  async function challengeWith(
    request: ResourceTokenRequest,
    options: RequireAuthTokenOptions | undefined,
  ): Promise<Challenge> {
    const r3 =
      options?.r3 === undefined
        ? undefined
        : await options.r3({
            person: { iss: request.person.iss, sub: request.person.sub },
            ...(request.account === undefined ? {} : { account: request.account }),
          });
    const token = await mintResourceToken(r3 === undefined ? request : { ...request, r3 });
    return { granted: false, requirement: { requirement: 'auth-token', 'resource-token': token } };
  }

  async function challengeAuthToken(
    keyThumbprint: string,
    auth: AuthTokenRecord,
    request: Pick<ResourceTokenRequest, 'scopes' | 'account' | 'r3'>,
  ): Promise<Challenge> {
    const person = await records.findPersonTokenForKey({
      cnfJkt: keyThumbprint,
      after: epochSeconds(clock),
      iss: auth.ps,
      sub: auth.sub,
    });
    if (!person) return PERSON_TOKEN_REQUIRED;
    const token = await mintResourceToken({ ...request, person, agentJkt: keyThumbprint });
    return { granted: false, requirement: { requirement: 'auth-token', 'resource-token': token } };
  }

  async function requireAuthToken(
    presented: Presented,
    requiredScopes: readonly string[],
    options?: RequireAuthTokenOptions,
  ): Promise<AuthDecision> {
    const now = epochSeconds(clock);
    if (presented === null || presented.kind === 'other') return PERSON_TOKEN_REQUIRED;
    if (presented.kind === 'person') {
      const person = await acceptPersonToken(presented);
      return challengeWith({ person, agentJkt: presented.keyThumbprint, scopes: requiredScopes }, options);
    }
    if (presented.kind === 'agent') {
      // Only a person token verified earlier for this very key may be named (§Resource Access and
      // Resource Tokens: never a resource token without a verified person token).
      const preferred = presented.claims.ps;
      const person =
        (preferred === undefined
          ? undefined
          : await records.findPersonTokenForKey({
              cnfJkt: presented.keyThumbprint,
              after: now,
              iss: preferred,
            })) ?? (await records.findPersonTokenForKey({ cnfJkt: presented.keyThumbprint, after: now }));
      if (!person) return PERSON_TOKEN_REQUIRED;
      return challengeWith({ person, agentJkt: presented.keyThumbprint, scopes: requiredScopes }, options);
    }
    const auth = await acceptAuthToken(presented);
    if (hasScopes(auth.scope, requiredScopes)) {
      return {
        granted: true,
        auth,
        person: { iss: auth.ps, sub: auth.sub },
        notebook: auth.account ?? DEFAULT_NOTEBOOK,
      };
    }
    // Step-up (§Auth Token Required): a new resource token naming the person token verified earlier.
    const person = await records.findPersonTokenForKey({
      cnfJkt: presented.keyThumbprint,
      after: now,
      iss: auth.ps,
      sub: auth.sub,
    });
    if (!person) return PERSON_TOKEN_REQUIRED;
    const held = splitScope(auth.scope).filter((scope) => deps.knownScopes.has(scope));
    return challengeWith(
      {
        person,
        agentJkt: presented.keyThumbprint,
        scopes: [...new Set([...held, ...requiredScopes])],
        ...(auth.account === undefined ? {} : { account: auth.account }),
      },
      options,
    );
  }

  async function requirePerson(presented: Presented): Promise<PersonDecision> {
    if (presented?.kind === 'person') {
      const record = await acceptPersonToken(presented);
      return {
        granted: true,
        person: { iss: record.iss, sub: record.sub },
        ...(record.tenant === undefined ? {} : { tenant: record.tenant }),
        ...(record.mission_s256 === undefined ? {} : { mission_s256: record.mission_s256 }),
        via: 'person-token',
      };
    }
    if (presented?.kind === 'auth') {
      const auth = await acceptAuthToken(presented);
      const { claims } = presented;
      return {
        granted: true,
        person: { iss: auth.ps, sub: auth.sub },
        ...(claims.tenant === undefined ? {} : { tenant: claims.tenant }),
        ...(claims.mission_s256 === undefined ? {} : { mission_s256: claims.mission_s256 }),
        via: 'auth-token',
      };
    }
    return PERSON_TOKEN_REQUIRED;
  }

  return {
    acceptPersonToken,
    acceptAuthToken,
    issueResourceToken,
    mintResourceToken,
    requireAuthToken,
    challengeAuthToken,
    requirePerson,
    isTrustedPersonServer,
  };
}
