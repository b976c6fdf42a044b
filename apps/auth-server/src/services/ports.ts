import type { AgentTokenClaims, PublicJwk } from '@aauth-ref/core';
import type { R3PolicyInput, ResourcePolicy } from './policy.js';

/** What the services need from storage; the Prisma implementations live in `src/stores/`. */

export interface PolicyStore {
  findResourcePolicy(resource: string): Promise<ResourcePolicy | undefined>;
  /** §PS-AS Trust Establishment: "Pre-established". */
  isTrustedPersonServer(ps: string): Promise<boolean>;
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
