import type {
  AgentBindingLookup,
  AgentRef,
  DirectedSubjectStore,
  IssuedAuthTokenRecord,
  IssuedAuthTokenStore,
  MissionLookup,
  MissionOwnerFilter,
  MissionRecord,
  MissionTerminationReason,
  PersonLookup,
  PersonRecord,
  PersonTokenFactsLookup,
  PersonTokenRecord,
  PersonTokenRecordStore,
  ResourceConsentKey,
  ResourceConsentStore,
  ScopeConsentRecord,
  ScopeConsentStore,
  SecurityEvent,
  SecurityEventLog,
} from '../../src/services/ports.js';

/** In-memory implementations of the service ports, for unit tests (same semantics as the Prisma ones). */

function agentKey(agent: AgentRef): string {
  return `${agent.iss}\n${agent.sub}`;
}

function consentKey(key: ResourceConsentKey): string {
  return `${key.personId}\n${agentKey(key.agent)}\n${key.resource}`;
}

export class MemoryPersons implements PersonLookup {
  readonly persons = new Map<string, PersonRecord>();
  add(person: PersonRecord): PersonRecord {
    this.persons.set(person.id, person);
    return person;
  }
  async findPerson(personId: string) {
    return this.persons.get(personId);
  }
}

export class MemoryBindings implements AgentBindingLookup {
  readonly bindings = new Map<string, string>();
  bind(agent: AgentRef, personId: string): void {
    this.bindings.set(agentKey(agent), personId);
  }
  revoke(agent: AgentRef): void {
    this.bindings.delete(agentKey(agent));
  }
  async findBoundPerson(agent: AgentRef) {
    return this.bindings.get(agentKey(agent));
  }
}

export class MemoryMissions implements MissionLookup {
  readonly missions = new Map<string, MissionRecord>();
  add(mission: MissionRecord): MissionRecord {
    this.missions.set(mission.s256, mission);
    return mission;
  }
  async findMission(s256: string, owner: MissionOwnerFilter) {
    const mission = this.missions.get(s256);
    if (mission === undefined) return undefined;
    if (owner.agent !== undefined && mission.agent !== owner.agent.sub) return undefined;
    if (
      owner.agent?.iss !== undefined &&
      mission.agentIss !== undefined &&
      mission.agentIss !== owner.agent.iss
    ) {
      return undefined;
    }
    if (owner.personId !== undefined && mission.personId !== owner.personId) return undefined;
    return mission;
  }
  async terminate(s256: string, reason: MissionTerminationReason) {
    const mission = this.missions.get(s256);
    if (mission?.status !== 'active') return false;
    this.missions.set(s256, { ...mission, status: 'terminated', terminationReason: reason });
    return true;
  }
}

export class MemoryDirectedSubjects implements DirectedSubjectStore {
  readonly subjects = new Map<string, string>();
  async find(personId: string, resource: string) {
    return this.subjects.get(`${personId}\n${resource}`);
  }
  async findOrCreate(personId: string, resource: string, candidate: string) {
    const key = `${personId}\n${resource}`;
    const existing = this.subjects.get(key);
    if (existing !== undefined) return existing;
    for (const [other, sub] of this.subjects) {
      if (sub === candidate && other.endsWith(`\n${resource}`)) throw new Error('duplicate (resource, sub)');
    }
    this.subjects.set(key, candidate);
    return candidate;
  }
}

export class MemoryPersonTokenRecords implements PersonTokenRecordStore {
  readonly records = new Map<string, PersonTokenRecord>();
  async insert(record: PersonTokenRecord) {
    if (this.records.has(record.jti)) throw new Error('duplicate jti');
    this.records.set(record.jti, record);
  }
  async findByJti(jti: string) {
    return this.records.get(jti);
  }
  private ofAgent(agent: AgentRef): PersonTokenRecord[] {
    return [...this.records.values()].filter((r) => r.agentIss === agent.iss && r.agentSub === agent.sub);
  }
  async hasIssuedForResource(agent: AgentRef, resource: string) {
    return this.ofAgent(agent).some((r) => r.resource === resource);
  }
  async countNewResourcesSince(agent: AgentRef, since: Date) {
    const first = new Map<string, number>();
    for (const r of this.ofAgent(agent)) {
      const t = r.issuedAt.getTime();
      first.set(r.resource, Math.min(first.get(r.resource) ?? t, t));
    }
    return [...first.values()].filter((t) => t >= since.getTime()).length;
  }
}

export class MemoryResourceConsents implements ResourceConsentStore {
  readonly consents = new Set<string>();
  async has(key: ResourceConsentKey) {
    return this.consents.has(consentKey(key));
  }
  async grant(key: ResourceConsentKey) {
    this.consents.add(consentKey(key));
  }
}

export class MemoryScopeConsents implements ScopeConsentStore {
  readonly consents = new Map<string, ScopeConsentRecord[]>();
  async list(key: ResourceConsentKey) {
    return [...(this.consents.get(consentKey(key)) ?? [])];
  }
  async grant(key: ResourceConsentKey, consent: ScopeConsentRecord) {
    const id = consentKey(key);
    this.consents.set(id, [...(this.consents.get(id) ?? []), consent]);
  }
}

export class MemoryIssuedAuthTokens implements IssuedAuthTokenStore {
  readonly records = new Map<string, IssuedAuthTokenRecord>();
  async insert(record: IssuedAuthTokenRecord) {
    if (this.records.has(record.jti)) throw new Error('duplicate jti');
    this.records.set(record.jti, record);
  }
  async findByJti(jti: string) {
    return this.records.get(jti);
  }
  revoke(jti: string, at: Date): void {
    const record = this.records.get(jti);
    if (record) this.records.set(jti, { ...record, revokedAt: at });
  }
}

/**
 * `PersonTokenFactsLookup` over the separate ports, one read each, as the store methods answer them:
 * the in-memory stores' implementation, and the reference the Prisma one-statement read is checked
 * against (`test/person-token-facts.test.ts`).
 */
export function lookupPersonTokenFactsSeparately(ports: {
  readonly bindings: AgentBindingLookup;
  readonly persons: PersonLookup;
  readonly directedSubjects: Pick<DirectedSubjectStore, 'find'>;
  readonly personTokens: Pick<PersonTokenRecordStore, 'hasIssuedForResource'>;
  readonly resourceConsents: Pick<ResourceConsentStore, 'has'>;
}): PersonTokenFactsLookup {
  return {
    async findPersonTokenFacts({ agent, resource, personId: given }) {
      const issuedForResource = await ports.personTokens.hasIssuedForResource(agent, resource);
      const personId = given ?? (await ports.bindings.findBoundPerson(agent));
      if (personId === undefined) return { consented: false, issuedForResource };
      const person = await ports.persons.findPerson(personId);
      const sub = await ports.directedSubjects.find(personId, resource);
      return {
        personId,
        consented: await ports.resourceConsents.has({ personId, agent, resource }),
        issuedForResource,
        ...(person === undefined ? {} : { person }),
        ...(sub === undefined ? {} : { sub }),
      };
    },
  };
}

export class MemorySecurityEvents implements SecurityEventLog {
  readonly events: SecurityEvent[] = [];
  async record(event: SecurityEvent) {
    this.events.push(event);
  }
}

export interface MemoryStores {
  readonly persons: MemoryPersons;
  readonly bindings: MemoryBindings;
  readonly missions: MemoryMissions;
  readonly directedSubjects: MemoryDirectedSubjects;
  readonly personTokens: MemoryPersonTokenRecords;
  readonly resourceConsents: MemoryResourceConsents;
  readonly scopeConsents: MemoryScopeConsents;
  readonly issuedAuthTokens: MemoryIssuedAuthTokens;
  readonly securityEvents: MemorySecurityEvents;
  /** Reads the stores above, so a test changing them is seen by the next request. */
  readonly personTokenFacts: PersonTokenFactsLookup;
}

export function createMemoryStores(): MemoryStores {
  const stores = {
    persons: new MemoryPersons(),
    bindings: new MemoryBindings(),
    missions: new MemoryMissions(),
    directedSubjects: new MemoryDirectedSubjects(),
    personTokens: new MemoryPersonTokenRecords(),
    resourceConsents: new MemoryResourceConsents(),
    scopeConsents: new MemoryScopeConsents(),
    issuedAuthTokens: new MemoryIssuedAuthTokens(),
    securityEvents: new MemorySecurityEvents(),
  };
  return { ...stores, personTokenFacts: lookupPersonTokenFactsSeparately(stores) };
}
