/**
 * What the token services need from storage, as interfaces: the Prisma implementations live in
 * `src/stores/`, the in-memory ones for tests in `test/support/memory-stores.ts`. Records are plain
 * data with camelCase names (the database's), timestamps as `Date`.
 */

/** An agent as the PS knows it: `(agent token iss, agent token sub)` (§Agent-Person Binding). */
export interface AgentRef {
  readonly iss: string;
  readonly sub: string;
}

// --- Persons and bindings ----------------------------------------------------------------------------

export interface PersonRecord {
  readonly id: string;
  readonly username: string;
  readonly displayName: string;
  readonly email: string | null;
  readonly tenant: string | null;
}

export interface PersonLookup {
  findPerson(personId: string): Promise<PersonRecord | undefined>;
}

/** Read-only view of agent-person bindings; the platform creates and revokes them. */
export interface AgentBindingLookup {
  /** The person the agent's active (unrevoked) binding names, if any. */
  findBoundPerson(agent: AgentRef): Promise<string | undefined>;
}

// --- Missions ------------------------------------------------------------------------------------------

export interface MissionRecord {
  readonly s256: string;
  /** The agent identifier the mission belongs to (the blob's `agent`). */
  readonly agent: string;
  /** The owning agent's Agent Provider (`iss` of its agent token). */
  readonly agentIss?: string;
  readonly personId: string;
  /** §Why Missions Have Only Two States. */
  readonly status: 'active' | 'terminated';
  readonly terminationReason?: string;
  /** The blob's `expires_at`, when it has one. */
  readonly expiresAt?: Date;
  /** Capabilities captured at mission approval (§PS Token Endpoint, `capabilities`). */
  readonly capabilities?: readonly string[];
}

/**
 * Who a mission must belong to for a lookup to find it: the owning agent, the person, or both. The
 * lookup matches them in its one query (§Mission Endpoint Errors: an unknown mission and another
 * agent's are indistinguishable, also in timing), so a mission of someone else is simply not found.
 */
export interface MissionOwnerFilter {
  readonly agent?: AgentRef;
  readonly personId?: string;
}

export type MissionTerminationReason = 'completed' | 'revoked' | 'expired' | 'superseded' | 'administrative';

export interface MissionLookup {
  findMission(s256: string, owner: MissionOwnerFilter): Promise<MissionRecord | undefined>;
  /**
   * `active` → `terminated` with `reason`, once (§Mission Management: never back). False when the
   * mission was not active any more.
   */
  terminate(s256: string, reason: MissionTerminationReason, at: Date): Promise<boolean>;
}

/** A PS without missions: every `mission_s256` is `mission_not_found`. */
export const noMissions: MissionLookup = {
  findMission: async () => undefined,
  terminate: async () => false,
};

/** One entry of the mission log (§Mission Log). `detail` is plain JSON; texts stay raw Markdown. */
export interface MissionLogAppend {
  readonly kind: string;
  readonly detail: Readonly<Record<string, unknown>>;
  /** An accepted update: its digest and the exact bytes the digest covers. */
  readonly s256?: string;
  readonly blob?: Uint8Array;
}

export interface MissionLog {
  append(missionS256: string, entry: MissionLogAppend): Promise<void>;
}

// --- Directed subjects -----------------------------------------------------------------------------

export interface DirectedSubjectStore {
  find(personId: string, resource: string): Promise<string | undefined>;
  /**
   * Stores `candidate` as the person's `sub` at `resource` unless one exists, atomically, and returns
   * the stored value (the existing one when another request won the race).
   */
  findOrCreate(personId: string, resource: string, candidate: string): Promise<string>;
}

// --- Person token records (§Person Token Endpoint retention obligation) -------------------------

export interface PersonTokenRecord {
  readonly jti: string;
  readonly ps: string;
  readonly sub: string;
  readonly missionS256: string | null;
  readonly tenant: string | null;
  readonly exp: Date;
  readonly resource: string;
  readonly personId: string;
  /** The agent that signed the request (the parent, for a sub-agent). */
  readonly agentIss: string;
  readonly agentSub: string;
  readonly subagentSub: string | null;
  readonly cnfJkt: string;
  readonly issuedAt: Date;
  /** `(ps, jti)` was revoked (§Token Revocation): a resource token naming it is refused. */
  readonly revoked?: boolean;
}

export interface PersonTokenRecordStore {
  insert(record: PersonTokenRecord): Promise<void>;
  /** The record of `jti`, also after its `exp` (retention is the store's purge policy). */
  findByJti(jti: string): Promise<PersonTokenRecord | undefined>;
  /** Whether this agent was ever issued a person token for `resource` (within retention). */
  hasIssuedForResource(agent: AgentRef, resource: string): Promise<boolean>;
  /** How many distinct resources got their first person token for this agent at or after `since`. */
  countNewResourcesSince(agent: AgentRef, since: Date): Promise<number>;
}

// --- A person token request's facts, read together ------------------------------------------------

/**
 * Everything a person token request reads before it decides (§Person Token Endpoint, §Agent-Person
 * Binding, §Person Token Exposure, §Directed Identifiers), so a store can answer in one round trip.
 */
export interface PersonTokenFacts {
  /** The person: the one given, else the one the agent's active binding names; absent when unbound. */
  readonly personId?: string;
  /** That person's record; absent when unbound or no longer known. */
  readonly person?: PersonRecord;
  /** An unrevoked consent of that person for this agent at this resource exists. */
  readonly consented: boolean;
  /** This agent was issued a person token for this resource before (the rate limit's "not new"). */
  readonly issuedForResource: boolean;
  /** That person's directed `sub` at this resource, when one was stored already. */
  readonly sub?: string;
}

export interface PersonTokenFactsLookup {
  /** `personId` when the request already names the person (§Call Chaining); else the binding decides. */
  findPersonTokenFacts(query: {
    readonly agent: AgentRef;
    readonly resource: string;
    readonly personId?: string;
  }): Promise<PersonTokenFacts>;
}

// --- Consents ---------------------------------------------------------------------------------------

export interface ResourceConsentKey {
  readonly personId: string;
  readonly agent: AgentRef;
  readonly resource: string;
}

/** "This agent may act at this resource as me" (§Person Token Exposure). */
export interface ResourceConsentStore {
  /** Whether an unrevoked consent exists. */
  has(key: ResourceConsentKey): Promise<boolean>;
  grant(key: ResourceConsentKey): Promise<void>;
}

/**
 * The person's decision on one R3 class document (never a per-call proposal), remembered by its
 * `r3_s256`: the document's operation objects they allowed and allowed per call.
 */
export interface RememberedR3Decision {
  readonly r3S256: string;
  readonly granted: readonly Readonly<Record<string, unknown>>[];
  readonly perCall: readonly Readonly<Record<string, unknown>>[];
}

export interface ScopeConsentRecord {
  /** Space-separated scope values the person granted in one decision (may be empty). */
  readonly scope: string;
  readonly missionS256: string | null;
  /** Set when the decision was on an R3 class document. */
  readonly r3?: RememberedR3Decision;
}

export interface ScopeConsentStore {
  /** Unrevoked consents of the person for this agent at this resource, any mission. */
  list(key: ResourceConsentKey): Promise<ScopeConsentRecord[]>;
  grant(key: ResourceConsentKey, consent: ScopeConsentRecord): Promise<void>;
}

// --- Issued auth tokens ---------------------------------------------------------------------------

export interface IssuedAuthTokenRecord {
  readonly jti: string;
  readonly iss: string;
  readonly aud: string;
  readonly sub: string;
  readonly scope: string | null;
  readonly missionS256: string | null;
  readonly personId: string;
  readonly agentIss: string;
  readonly agentSub: string;
  readonly cnfJkt: string;
  readonly issuedAt: Date;
  readonly exp: Date;
  readonly revokedAt: Date | null;
}

/**
 * R3 §AS Processing step 4 (this PS being the three-party issuer): what an R3 auth token was issued
 * against, recorded atomically with the token (§Audit Log Integrity).
 */
export interface R3AuditEntry {
  readonly r3Uri: string;
  readonly r3S256: string;
  /** The resource token's `ps`, `sub` and `agent_jkt`. */
  readonly ps: string;
  readonly sub: string;
  readonly agentJkt: string;
  /** The agent identifier: the signing agent token's `sub` (and its AP), plus a sub-agent's `sub`. */
  readonly agentIss: string;
  readonly agentSub: string;
  readonly subagentSub: string | null;
  readonly r3Granted: unknown;
  readonly r3PerCall: unknown | null;
  readonly proposal: boolean;
  readonly missionS256: string | null;
  readonly issuedAt: Date;
}

export interface IssuedAuthTokenStore {
  /** With `r3`, the audit entry is written in the same transaction: both or neither. */
  insert(record: IssuedAuthTokenRecord, r3?: R3AuditEntry): Promise<void>;
  findByJti(jti: string): Promise<IssuedAuthTokenRecord | undefined>;
}

// --- Security events --------------------------------------------------------------------------------

export type SecurityEventName =
  | 'resource_token.mismatch'
  | 'resource_token.agent_mismatch'
  /** §Auth Token Delivery: an AS's auth token failed a check and was not forwarded. */
  | 'auth_token.rejected'
  /** §AS Response: an AS step the PS refused to relay (an interaction URL off the AS's origin, say). */
  | 'as_step.rejected'
  /** §Mission Endpoint Errors: an agent's repeated failures at a mission's own URL reached the limit. */
  | 'mission.failures_throttled';

export interface SecurityEvent {
  readonly event: SecurityEventName;
  /** Client-independent facts for operators; never a raw token. */
  readonly detail: Readonly<Record<string, unknown>>;
}

export interface SecurityEventLog {
  record(event: SecurityEvent): Promise<void>;
}
