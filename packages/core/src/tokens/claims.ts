import type { PublicJwk } from '../jwk.js';
import type { R3Operations } from '../r3/types.js';

/**
 * Wire shapes of the four AAuth JWTs, with the spec's claim names unchanged
 * (§Agent Token Structure, §Person Token Structure, §Resource Token Structure, §Auth Token Structure).
 */

export const TOKEN_TYP = {
  agent: 'aa-agent+jwt',
  person: 'aa-person+jwt',
  resource: 'aa-resource+jwt',
  auth: 'aa-auth+jwt',
} as const;

export type TokenKind = keyof typeof TOKEN_TYP;
export type TokenTyp = (typeof TOKEN_TYP)[TokenKind];

/** Metadata document names (`dwk`) — §Well-Known URI Registrations. */
export const DWK = {
  agent: 'aauth-agent.json',
  person: 'aauth-person.json',
  access: 'aauth-access.json',
  resource: 'aauth-resource.json',
} as const;

export type Dwk = (typeof DWK)[keyof typeof DWK];

/** The `dwk` values each token type may carry. An auth token comes from a PS or an AS. */
export const ACCEPTED_DWK: Readonly<Record<TokenKind, readonly Dwk[]>> = {
  agent: [DWK.agent],
  person: [DWK.person],
  resource: [DWK.resource],
  auth: [DWK.access, DWK.person],
};

/** Lifetime caps in seconds. Agent: SHOULD NOT exceed 24 h; person/auth: MUST NOT exceed 1 h; resource: SHOULD NOT exceed 5 min. */
export const MAX_LIFETIME_SECONDS: Readonly<Record<TokenKind, number>> = {
  agent: 24 * 3600,
  person: 3600,
  resource: 300,
  auth: 3600,
};

/**
 * String claims each type requires beyond the common `iss`/`dwk`/`jti` (the *Structure* sections).
 * `scope` is not among a resource token's: R3 (draft-hardt-aauth-r3 §Resource Token) makes it optional
 * when R3 claims carry the authorization (docs/spec-decisions.md).
 */
export const REQUIRED_STRING_CLAIMS: Readonly<Record<TokenKind, readonly string[]>> = {
  agent: ['sub'],
  person: ['aud', 'sub'],
  resource: ['aud', 'ps', 'sub', 'presented_jti', 'agent_jkt'],
  auth: ['aud', 'ps', 'sub'],
};

/** Optional claims that, when present, must be strings. */
export const OPTIONAL_STRING_CLAIMS: Readonly<Record<TokenKind, readonly string[]>> = {
  agent: ['ps', 'parent_agent'],
  person: ['mission_s256', 'tenant'],
  resource: ['scope', 'account', 'mission_s256', 'tenant'],
  auth: ['scope', 'account', 'mission_s256', 'tenant'],
};

export interface JwtHeader {
  alg: string;
  typ: string;
  kid?: string;
  jwk?: unknown;
  [name: string]: unknown;
}

export interface Confirmation {
  jwk: PublicJwk;
}

interface CommonClaims {
  iss: string;
  dwk: string;
  jti: string;
  iat: number;
  exp: number;
  [claim: string]: unknown;
}

export interface AgentTokenClaims extends CommonClaims {
  sub: string;
  cnf: Confirmation;
  ps?: string;
  parent_agent?: string;
}

export interface PersonTokenClaims extends CommonClaims {
  aud: string;
  sub: string;
  cnf: Confirmation;
  mission_s256?: string;
  tenant?: string;
}

export interface ResourceInteraction {
  url: string;
  code: string;
}

export interface ResourceTokenClaims extends CommonClaims {
  aud: string;
  ps: string;
  sub: string;
  presented_jti: string;
  agent_jkt: string;
  /** Optional when a companion specification (R3) carries the authorization instead. */
  scope?: string;
  account?: string;
  mission_s256?: string;
  tenant?: string;
  interaction?: ResourceInteraction;
  /** R3 §Resource Token Extensions: both or neither (checked on issue and verify). */
  r3_uri?: string;
  r3_s256?: string;
}

export interface AuthTokenClaims extends CommonClaims {
  aud: string;
  ps: string;
  sub: string;
  cnf: Confirmation;
  scope?: string;
  account?: string;
  mission_s256?: string;
  tenant?: string;
  /** R3 §Auth Token Extensions: `r3_uri`, `r3_s256`, `r3_granted` together; `r3_per_call` optional. */
  r3_uri?: string;
  r3_s256?: string;
  r3_granted?: R3Operations;
  r3_per_call?: R3Operations;
}

export interface ClaimsByKind {
  agent: AgentTokenClaims;
  person: PersonTokenClaims;
  resource: ResourceTokenClaims;
  auth: AuthTokenClaims;
}

/** `jkt-s256+jwt` (Signature-Key §3.5): the AP's two-key refresh ceremony. */
export interface JktJwtClaims {
  iss: string; // urn:jkt:sha-256:<thumbprint of header jwk>
  iat: number;
  exp: number;
  cnf: Confirmation;
  jti?: string;
  [claim: string]: unknown;
}
