import type { AgentTokenClaims, PublicJwk } from '@aauth-ref/core';
import type { R3PolicyInput, ResourcePolicy } from './policy.js';

/** What the services need from storage; the Prisma implementations live in `src/stores/`. */

/** A token by `(iss, jti)`, the key of revocation state (§Token Revocation). */
export interface TokenRef {
  readonly iss: string;
  readonly jti: string;
}

export interface TokenFactsQuery {
  readonly resource: string;
  readonly ps: string;
  readonly sub: string;
  /** The request's agent token, when its revocation is to be read too. */
  readonly agent?: TokenRef;
  readonly subagent?: TokenRef;
}

/** What a token request's decision reads from storage; tokens not asked about read as not revoked. */
export interface TokenFacts {
  readonly policy: ResourcePolicy | undefined;
  /** §PS-AS Trust Establishment: "Pre-established". */
  readonly psTrusted: boolean;
  /** The person behind `(ps, sub)` has bound this PS here ("Interaction"). */
  readonly bound: boolean;
  /** The PS has a billing relationship here ("Payment"). */
  readonly billing: boolean;
  readonly agentRevoked: boolean;
  readonly subagentRevoked: boolean;
}

/**
 * The reads of a token request in one round trip (docs/benchmarks.md, *Auth server issuance*): the
 * resource's policy, the PS's trust, and the revocation of the tokens the request carries.
 */
export interface TokenFactsLookup {
  findTokenFacts(query: TokenFactsQuery): Promise<TokenFacts>;
}

/** One issued auth token as recorded (§Auth Token Structure, audit and revocation). */
export interface IssuedAuthTokenRecord {
  readonly jti: string;
  readonly aud: string;
  readonly ps: string;
  readonly sub: string;
  readonly scope?: string;
  readonly account?: string;
  readonly mission_s256?: string;
  readonly tenant?: string;
  readonly agentIss: string;
  readonly agentSub: string;
  readonly subagentSub?: string;
  readonly cnfJkt: string;
  readonly resourceTokenJti: string;
  readonly issuedAt: Date;
  readonly exp: Date;
  /** R3 §AS Processing step 4: written with the token record, atomically (§Audit Log Integrity). */
  readonly r3?: R3AuditEntry;
}

/** What the audit log keeps of an R3 issuance (`ps`, `sub` and the agent come from the token record). */
export interface R3AuditEntry {
  readonly r3Uri: string;
  readonly r3S256: string;
  /** The resource token's `agent_jkt`. */
  readonly agentJkt: string;
  readonly r3Granted: unknown;
  readonly r3PerCall: unknown | null;
  readonly proposal: boolean;
}

export interface IssuedAuthTokenStore {
  record(token: IssuedAuthTokenRecord): Promise<void>;
}

/** R3 §AS Processing: the verified document a resource token named (plain JSON, kept while pending). */
export interface GrantR3 extends R3PolicyInput {
  readonly r3_uri: string;
  readonly r3_s256: string;
}

/**
 * Everything issuing needs once the policy grants, taken from the verified request (plain JSON: it is
 * kept in the pending row while the AS waits for claims).
 */
export interface GrantContext {
  /** The resource: the resource token's `iss`, the auth token's `aud`. */
  readonly resource: string;
  readonly ps: string;
  readonly sub: string;
  readonly scope?: string;
  readonly account?: string;
  readonly mission_s256?: string;
  readonly tenant?: string;
  readonly resource_token_jti: string;
  /** The `agent_token` claims (the parent's, for a parent-mediated request). */
  readonly agent: AgentTokenClaims;
  readonly subagent_sub?: string;
  /** The key the auth token binds: the sub-agent's when present, else the agent's. */
  readonly cnf_jwk: PublicJwk;
  readonly cnf_jkt: string;
  /** Seconds: the auth token may not outlive the agent token (nor the sub-agent token). */
  readonly not_after: number;
  /** The resource token's `agent_jkt` (the audit log's, R3 §AS Processing step 4). */
  readonly agent_jkt?: string;
  /** Present when the resource token carried `r3_uri`/`r3_s256` and the document verified. */
  readonly r3?: GrantR3;
}

/** Trust established dynamically (§PS-AS Trust Establishment: "Interaction" and "Payment"). */
export interface TrustStore {
  /** The person behind `(ps, sub)` has bound this PS here (an active binding). */
  isBound(ps: string, sub: string): Promise<boolean>;
  hasBilling(ps: string): Promise<boolean>;
}
