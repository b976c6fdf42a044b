import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentRef, PersonTokenFactsLookup } from '../src/services/ports.js';
import { createPrismaBindingStore } from '../src/stores/prisma-bindings.js';
import { createPrismaPersonTokenFactsLookup } from '../src/stores/prisma-person-token-facts.js';
import { createPrismaPersonStore } from '../src/stores/prisma-persons.js';
import {
  createPrismaDirectedSubjectStore,
  createPrismaPersonTokenRecordStore,
  createPrismaResourceConsentStore,
} from '../src/stores/prisma-token-stores.js';
import { startTestApp, type TestApp } from './support/app-harness.js';
import { lookupPersonTokenFactsSeparately } from './support/memory-stores.js';

/**
 * The one-statement read of a person token request (`prisma-person-token-facts.ts`) answers exactly
 * what the separate store methods answer, one query each, on the same rows.
 */

const RESOURCE = 'https://resource.example';
const OTHER = 'https://other.example';

let t: TestApp;
let combined: PersonTokenFactsLookup;
let separate: PersonTokenFactsLookup;
let alice: string;
let bob: string;

beforeAll(async () => {
  t = await startTestApp();
  combined = createPrismaPersonTokenFactsLookup(t.prisma);
  separate = lookupPersonTokenFactsSeparately({
    bindings: createPrismaBindingStore(t.prisma),
    persons: createPrismaPersonStore(t.prisma),
    directedSubjects: createPrismaDirectedSubjectStore(t.prisma),
    personTokens: createPrismaPersonTokenRecordStore(t.prisma),
    resourceConsents: createPrismaResourceConsentStore(t.prisma),
  });
  alice = (await t.prisma.person.findUniqueOrThrow({ where: { username: 'alice' } })).id;
  bob = (await t.prisma.person.findUniqueOrThrow({ where: { username: 'bob' } })).id;
});
afterAll(async () => {
  await t?.close();
});

function newAgent(): AgentRef {
  return { iss: 'https://agent.example', sub: `aauth:${randomUUID()}@agent.example` };
}

async function bind(agent: AgentRef, personId: string, options: { revoked?: boolean; at?: Date } = {}) {
  await t.prisma.agentBinding.create({
    data: {
      id: randomUUID(),
      agentIss: agent.iss,
      agentSub: agent.sub,
      personId,
      createdAt: options.at ?? new Date(),
      revokedAt: options.revoked ? new Date() : null,
    },
  });
}

async function consent(agent: AgentRef, personId: string, resource: string, revoked = false) {
  await t.prisma.resourceConsent.create({
    data: {
      personId,
      agentIss: agent.iss,
      agentSub: agent.sub,
      resource,
      revokedAt: revoked ? new Date() : null,
    },
  });
}

async function recordToken(agent: AgentRef, personId: string, resource: string) {
  await createPrismaPersonTokenRecordStore(t.prisma).insert({
    jti: randomUUID(),
    ps: 'http://localhost:3001',
    sub: 'directed',
    missionS256: null,
    tenant: null,
    exp: new Date(Date.now() + 3_600_000),
    resource,
    personId,
    agentIss: agent.iss,
    agentSub: agent.sub,
    subagentSub: null,
    cnfJkt: 'jkt',
    issuedAt: new Date(),
  });
}

async function expectSame(query: Parameters<PersonTokenFactsLookup['findPersonTokenFacts']>[0]) {
  const facts = await combined.findPersonTokenFacts(query);
  expect(facts).toEqual(await separate.findPersonTokenFacts(query));
  return facts;
}

describe('person token facts in one statement', () => {
  it('an unbound agent: no person, not consented, nothing issued', async () => {
    const facts = await expectSame({ agent: newAgent(), resource: RESOURCE });
    expect(facts).toEqual({ consented: false, issuedForResource: false });
  });

  it('a bound, consented agent with a token before: person, sub, consent and prior issuance', async () => {
    const agent = newAgent();
    await bind(agent, alice);
    await consent(agent, alice, RESOURCE);
    await createPrismaDirectedSubjectStore(t.prisma).findOrCreate(alice, RESOURCE, 'alice-at-resource');
    await recordToken(agent, alice, RESOURCE);
    const facts = await expectSame({ agent, resource: RESOURCE });
    expect(facts).toMatchObject({
      personId: alice,
      person: { id: alice, username: 'alice' },
      sub: 'alice-at-resource',
      consented: true,
      issuedForResource: true,
    });
    // Another resource: the same person, nothing of the first resource.
    expect(await expectSame({ agent, resource: OTHER })).toMatchObject({
      personId: alice,
      consented: false,
      issuedForResource: false,
    });
  });

  it('a revoked binding and a revoked consent count as none; the oldest active binding wins', async () => {
    const revoked = newAgent();
    await bind(revoked, alice, { revoked: true });
    await consent(revoked, alice, RESOURCE, true);
    expect(await expectSame({ agent: revoked, resource: RESOURCE })).toEqual({
      consented: false,
      issuedForResource: false,
    });
    const twice = newAgent();
    await bind(twice, bob, { at: new Date(Date.now() - 60_000) });
    await bind(twice, alice);
    expect((await expectSame({ agent: twice, resource: RESOURCE })).personId).toBe(bob);
  });

  it('a person named by the request (§Call Chaining) is used instead of the binding', async () => {
    const agent = newAgent();
    await bind(agent, alice);
    await consent(agent, bob, RESOURCE);
    const facts = await expectSame({ agent, resource: RESOURCE, personId: bob });
    expect(facts).toMatchObject({ personId: bob, person: { username: 'bob' }, consented: true });
    // An unknown person: named, but no record.
    const unknown = randomUUID();
    expect(await expectSame({ agent, resource: RESOURCE, personId: unknown })).toEqual({
      personId: unknown,
      consented: false,
      issuedForResource: false,
    });
  });
});
