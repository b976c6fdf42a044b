import { randomUUID } from 'node:crypto';
import {
  type AgentTokenClaims,
  createLocalKeyResolver,
  createTokenVerifier,
  DWK,
  epochSeconds,
  type KeyPair,
  type PersonTokenClaims,
  STRICT,
} from '@aauth-ref/core';
import {
  createFakeClock,
  createTestIssuer,
  type FakeClock,
  makeAgentId,
  makeAgentToken,
  makeKeyPair,
  makeRawJwt,
  type TestIssuer,
} from '@aauth-ref/testkit';
import { type AuthTokenService, createAuthTokenService } from '../../src/services/auth-token-service.js';
import {
  createPersonTokenService,
  type PersonTokenService,
} from '../../src/services/person-token-service.js';
import type { PersonRecord } from '../../src/services/ports.js';
import type { RequestingAgent } from '../../src/services/resource-token-check.js';
import { createMemoryStores, type MemoryStores } from './memory-stores.js';

/** A PS with in-memory stores, a test Agent Provider and two test resources, all on a fake clock. */

export const PS = 'https://ps.example';
export const RESOURCE = 'https://resource.example';
export const OTHER_RESOURCE = 'https://other.example';

export interface TestAgent {
  readonly jwt: string;
  readonly claims: AgentTokenClaims;
  readonly key: KeyPair;
  /** What the fastify hook hands the route after verifying the request signature. */
  readonly signer: RequestingAgent;
}

export interface Harness {
  readonly clock: FakeClock;
  readonly ps: TestIssuer;
  readonly ap: TestIssuer;
  readonly resource: TestIssuer;
  readonly otherResource: TestIssuer;
  /** `RESOURCE` in its agent role (call chaining): publishes aauth-agent.json under the same issuer. */
  readonly intermediaryAp: TestIssuer;
  readonly stores: MemoryStores;
  readonly person: PersonRecord;
  readonly personTokens: PersonTokenService;
  readonly authTokens: AuthTokenService;
  /** A new agent bound to `person` unless `bound: false`; `parent` makes it a sub-agent of that agent. */
  makeAgent(options?: {
    bound?: boolean;
    parent?: TestAgent;
    lifetimeSeconds?: number;
    personId?: string;
    ap?: TestIssuer;
  }): TestAgent;
  addPerson(overrides?: Partial<PersonRecord>): PersonRecord;
  /** Consents to the resource and obtains a person token for it. */
  obtainPersonToken(agent: TestAgent, body?: Record<string, unknown>): Promise<PersonTokenClaims>;
  /** A resource token as the resource would mint it from a person token; `claims` overrides (undefined removes). */
  makeResourceToken(
    personToken: PersonTokenClaims,
    agentKey: Pick<KeyPair, 'thumbprint'>,
    claims?: Record<string, unknown>,
    header?: Record<string, unknown>,
  ): string;
}

export function createHarness(options: { maxNewResourcesPerHour?: number } = {}): Harness {
  const clock = createFakeClock();
  const ps = createTestIssuer({ dwk: DWK.person, issuer: PS });
  const ap = createTestIssuer({ dwk: DWK.agent, issuer: 'https://agent.example' });
  const resource = createTestIssuer({ dwk: DWK.resource, issuer: RESOURCE });
  const otherResource = createTestIssuer({ dwk: DWK.resource, issuer: OTHER_RESOURCE });
  const intermediaryAp = createTestIssuer({ dwk: DWK.agent, issuer: RESOURCE });
  const keys = createLocalKeyResolver([ps, ap, resource, otherResource, intermediaryAp]);
  const verifier = createTokenVerifier({ clock, keys, identifierPolicy: STRICT, cacheSize: 0 });
  const stores = createMemoryStores();
  const common = {
    clock,
    issuer: PS,
    signer: ps.signingKey,
    verifier,
    identifierPolicy: STRICT,
    ...stores,
  };
  const personTokens = createPersonTokenService({
    ...common,
    ...(options.maxNewResourcesPerHour === undefined
      ? {}
      : { maxNewResourcesPerHour: options.maxNewResourcesPerHour }),
  });
  const authTokens = createAuthTokenService(common);

  function addPerson(overrides: Partial<PersonRecord> = {}): PersonRecord {
    return stores.persons.add({
      id: randomUUID(),
      username: 'alice',
      displayName: 'Alice Example',
      email: 'alice@example.com',
      tenant: 'acme',
      ...overrides,
    });
  }
  const person = addPerson();

  function makeAgent(agentOptions: Parameters<Harness['makeAgent']>[0] = {}): TestAgent {
    const parent = agentOptions.parent;
    const agentAp = agentOptions.ap ?? ap;
    const sub = parent
      ? parent.claims.sub.replace('@', `+${Math.random().toString(36).slice(2, 8)}@`)
      : makeAgentId(agentAp);
    const made = makeAgentToken({
      issuer: agentAp,
      clock,
      sub,
      ps: PS,
      ...(parent ? { parent_agent: parent.claims.sub } : {}),
      ...(agentOptions.lifetimeSeconds === undefined
        ? {}
        : { lifetimeSeconds: agentOptions.lifetimeSeconds }),
    });
    const agent: TestAgent = {
      jwt: made.jwt,
      claims: made.claims,
      key: made.key,
      signer: { claims: made.claims, keyThumbprint: made.key.thumbprint },
    };
    if (agentOptions.bound !== false && !parent) {
      stores.bindings.bind({ iss: agentAp.issuer, sub }, agentOptions.personId ?? person.id);
    }
    return agent;
  }

  return {
    clock,
    ps,
    ap,
    resource,
    otherResource,
    intermediaryAp,
    stores,
    person,
    personTokens,
    authTokens,
    makeAgent,
    addPerson,
    async obtainPersonToken(agent, body = { resource: RESOURCE }) {
      const personId = (await stores.bindings.findBoundPerson(agent.claims)) ?? person.id;
      await stores.resourceConsents.grant({
        personId,
        agent: { iss: agent.claims.iss, sub: agent.claims.sub },
        resource: body.resource as string,
      });
      const outcome = await personTokens.requestPersonToken(agent.signer, body);
      if (outcome.kind !== 'issued') throw new Error(`expected a person token, got ${outcome.kind}`);
      return outcome.claims;
    },
    makeResourceToken(personToken, agentKey, claims = {}, header = {}) {
      const iss = personToken.aud === OTHER_RESOURCE ? otherResource : resource;
      const now = epochSeconds(clock);
      const payload: Record<string, unknown> = {
        iss: iss.issuer,
        dwk: DWK.resource,
        aud: PS,
        jti: randomUUID(),
        ps: personToken.iss,
        sub: personToken.sub,
        presented_jti: personToken.jti,
        agent_jkt: agentKey.thumbprint,
        scope: 'read write',
        iat: now,
        exp: now + 300,
      };
      if (personToken.mission_s256 !== undefined) payload.mission_s256 = personToken.mission_s256;
      if (personToken.tenant !== undefined) payload.tenant = personToken.tenant;
      for (const [name, value] of Object.entries(claims)) {
        if (value === undefined) delete payload[name];
        else payload[name] = value;
      }
      const signingKey = (header.signer as KeyPair | undefined) ?? iss.signingKey;
      const { signer: _signer, ...jwtHeader } = header;
      return makeRawJwt(
        { typ: 'aa-resource+jwt', kid: iss.signingKey.kid, ...jwtHeader },
        payload,
        signingKey,
      );
    },
  };
}

export { makeKeyPair };
