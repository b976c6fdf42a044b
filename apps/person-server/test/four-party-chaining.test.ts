import { randomUUID } from 'node:crypto';
import { createLocalKeyResolver, DWK, type IssuerKeyResolver } from '@aauth-ref/core';
import { createTestIssuer, makeAgentToken, makeAuthToken, makeResourceToken } from '@aauth-ref/testkit';
import Fastify, { type FastifyReply } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ISSUER, sendSigned, startTestApp, type TestApp } from './support/app-harness.js';
import { fetchThrough } from './support/federation-access-server.js';
import {
  approve,
  type BoundAgent,
  bindAgentWithPersonToken,
  codeOf,
  decodeClaims,
  mintResourceToken,
  openCode,
  pathOf,
  poll,
  requestAuthToken,
  type TestAgent,
  underMission,
} from './support/token-flow.js';

/**
 * §Call Chaining with a four-party upstream (§Upstream Token Verification step 2: "a PS or AS whose
 * auth token the recipient previously brokered"): the agent's auth token for RESOURCE was issued by an
 * AS through this PS (§Access Server Federation) and recorded here; RESOURCE, acting as an agent,
 * presents it as `upstream_token` at `/person` and `/token` for DOWNSTREAM. The AS is a stub with its
 * own keys, reached through an injected fetch (no socket).
 */

const AS = 'https://as.example';
const ROGUE_AS = 'https://rogue-as.example';
const RESOURCE = 'https://resource.example';
const DOWNSTREAM = 'https://downstream.example';

const otherAp = createTestIssuer({
  dwk: DWK.agent,
  issuer: 'https://agent.example',
  metadata: { callback_endpoint: 'https://agent.example/callback' },
});
const resource = createTestIssuer({ dwk: DWK.resource, issuer: RESOURCE });
/** RESOURCE in its agent role: its own agent identity under its own issuer (§Call Chaining Identity). */
const intermediaryAp = createTestIssuer({ dwk: DWK.agent, issuer: RESOURCE });
const downstream = createTestIssuer({ dwk: DWK.resource, issuer: DOWNSTREAM });
const accessServer = createTestIssuer({
  dwk: DWK.access,
  issuer: AS,
  metadata: { auth_token_endpoint: `${AS}/token` },
});
/** An AS with valid keys this PS never brokered a token from. */
const rogueAs = createTestIssuer({
  dwk: DWK.access,
  issuer: ROGUE_AS,
  metadata: { auth_token_endpoint: `${ROGUE_AS}/token` },
});

type AsHandler = (body: Record<string, unknown>, reply: FastifyReply) => unknown;

let t: TestApp;
let handle: AsHandler;
let asCalls: Record<string, unknown>[];
/** Key lookups by issuer: an issuer the PS does not trust must cost no discovery. */
const keyLookups: string[] = [];
const stub = Fastify();

beforeAll(async () => {
  stub.post('/token', async (request, reply) => {
    const body = request.body as Record<string, unknown>;
    asCalls.push(body);
    return handle(body, reply);
  });
  await stub.ready();
  const local = createLocalKeyResolver([
    otherAp,
    resource,
    intermediaryAp,
    downstream,
    accessServer,
    rogueAs,
  ]);
  const remoteKeys: IssuerKeyResolver = {
    resolveKey: (iss, ...rest) => {
      keyLookups.push(iss);
      return local.resolveKey(iss, ...rest);
    },
    metadata: (...args) => local.metadata(...args),
  };
  t = await startTestApp({ remoteKeys, federationFetch: fetchThrough(() => stub, AS) });
});
afterAll(async () => {
  await t?.close();
  await stub.close();
});
beforeEach(() => {
  asCalls = [];
});

async function aliceId(): Promise<string> {
  return (await t.prisma.person.findFirstOrThrow({ where: { username: 'alice' } })).id;
}

interface Brokered {
  readonly bound: BoundAgent;
  /** The AS's auth token for RESOURCE, brokered and recorded by the PS. */
  readonly upstream: string;
  readonly claims: Record<string, unknown>;
}

/** The original agent's four-party request for RESOURCE, granted by the stub AS with a token it signs. */
async function brokerUpstream(
  options: { mission?: boolean; lifetimeSeconds?: number } = {},
): Promise<Brokered> {
  const bound = await bindAgentWithPersonToken(t, otherAp, RESOURCE);
  const mission = options.mission ? await underMission(t, bound, 3600) : undefined;
  let upstream = '';
  handle = (_body, reply) => {
    upstream = makeAuthToken({
      issuer: accessServer,
      clock: t.clock,
      key: bound.agent.key,
      aud: RESOURCE,
      ps: ISSUER,
      sub: bound.personToken.sub,
      scope: 'notes.read',
      ...(options.lifetimeSeconds === undefined ? {} : { lifetimeSeconds: options.lifetimeSeconds }),
      ...(mission === undefined ? {} : { claims: { mission_s256: mission } }),
    }).jwt;
    return reply.code(200).header('cache-control', 'no-store').send({ auth_token: upstream, expires_in: 60 });
  };
  const rt = makeResourceToken({
    issuer: resource,
    clock: t.clock,
    aud: AS,
    ps: ISSUER,
    sub: bound.personToken.sub,
    presented_jti: bound.personToken.jti,
    agentKey: bound.agent.key,
    scope: 'notes.read',
    claims: {
      ...(bound.personToken.tenant ? { tenant: bound.personToken.tenant } : {}),
      ...(mission === undefined ? {} : { mission_s256: mission }),
    },
  });
  const res = await requestAuthToken(t, bound.agent, { resource_token: rt.jwt });
  if (res.statusCode !== 200) throw new Error(`brokering: ${res.statusCode} ${res.body}`);
  asCalls = [];
  return { bound, upstream, claims: decodeClaims(upstream) };
}

function newIntermediary(): TestAgent {
  return makeAgentToken({ issuer: intermediaryAp, clock: t.clock });
}

/** alice's standing consent for the intermediary at DOWNSTREAM (§Person Token Exposure). */
async function consentAtDownstream(agent: TestAgent, scope?: string): Promise<void> {
  const key = { personId: await aliceId(), agentIss: agent.claims.iss, agentSub: agent.claims.sub };
  await t.prisma.resourceConsent.create({ data: { ...key, resource: DOWNSTREAM } });
  if (scope !== undefined) {
    await t.prisma.scopeConsent.create({ data: { id: randomUUID(), ...key, resource: DOWNSTREAM, scope } });
  }
}

function requestPersonToken(agent: TestAgent, body: Record<string, unknown>) {
  t.clock.advance(100);
  return sendSigned(t, { method: 'POST', path: '/person', key: agent.key, signatureKey: agent.jwt, body });
}

async function downstreamSub(): Promise<string | undefined> {
  const row = await t.prisma.directedSubject.findUnique({
    where: { personId_resource: { personId: await aliceId(), resource: DOWNSTREAM } },
  });
  return row?.sub;
}

/** The intermediary's downstream person token, obtained with a valid upstream token. */
async function downstreamPersonToken(agent: TestAgent, upstream: string) {
  const res = await requestPersonToken(agent, { resource: DOWNSTREAM, upstream_token: upstream });
  if (res.statusCode !== 200) throw new Error(`downstream person token: ${res.statusCode} ${res.body}`);
  const jwt = res.json().person_token as string;
  return { jwt, claims: decodeClaims(jwt) as { jti: string; sub: string; tenant?: string } };
}

function downstreamResourceToken(
  agent: TestAgent,
  personToken: { jti: string; sub: string; tenant?: string; mission_s256?: string },
  aud = ISSUER,
) {
  return makeResourceToken({
    issuer: downstream,
    clock: t.clock,
    aud,
    ps: ISSUER,
    sub: personToken.sub,
    presented_jti: personToken.jti,
    agentKey: agent.key,
    scope: 'charge',
    claims: {
      ...(personToken.tenant ? { tenant: personToken.tenant } : {}),
      ...(personToken.mission_s256 ? { mission_s256: personToken.mission_s256 } : {}),
    },
  }).jwt;
}

describe('four-party upstream_token at POST /person (§Person Token Endpoint, §Call Chaining)', () => {
  it('issues for the person the AS token was brokered for, with the downstream directed sub', async () => {
    const { bound, upstream, claims } = await brokerUpstream();
    const intermediary = newIntermediary();
    const res = await requestPersonToken(intermediary, {
      resource: DOWNSTREAM,
      upstream_token: upstream,
      capabilities: ['interaction'],
    });
    // The first person token for DOWNSTREAM is put to the person the upstream token names.
    expect(res.statusCode).toBe(202);
    const { browser, page } = await openCode(t, codeOf(res));
    expect((await approve(browser, page)).statusCode).toBe(200);
    const answer = await poll(t, intermediary, pathOf(res));
    expect(answer.statusCode).toBe(200);
    const issued = decodeClaims(answer.json().person_token);
    const sub = await downstreamSub();
    expect(issued).toMatchObject({ iss: ISSUER, aud: DOWNSTREAM, sub, cnf: { jwk: intermediary.key.jwk } });
    // §Directed Identifiers Across a Chain: never the upstream sub (the AS copied it from our person token).
    expect(sub).toEqual(expect.any(String));
    expect(issued.sub).not.toBe(claims.sub);
    expect(claims.sub).toBe(bound.personToken.sub);
    expect(issued.mission_s256).toBeUndefined();
    expect(
      await t.prisma.personTokenRecord.findUnique({ where: { jti: issued.jti as string } }),
    ).toMatchObject({
      personId: await aliceId(),
      agentIss: RESOURCE,
      agentSub: intermediary.claims.sub,
      resource: DOWNSTREAM,
    });
    // Verified with the AS's published key and the PS's records: the AS is not asked.
    expect(asCalls).toEqual([]);
  });

  it('carries the mission of the AS token downstream', async () => {
    const { upstream, claims } = await brokerUpstream({ mission: true });
    expect(claims.mission_s256).toEqual(expect.any(String));
    const intermediary = newIntermediary();
    await consentAtDownstream(intermediary);
    const { claims: issued } = await downstreamPersonToken(intermediary, upstream);
    expect(issued).toMatchObject({ aud: DOWNSTREAM, mission_s256: claims.mission_s256 });
    // A request naming another mission than the upstream token's is refused.
    const other = await requestPersonToken(intermediary, {
      resource: DOWNSTREAM,
      upstream_token: upstream,
      mission_s256: 'another-mission',
    });
    expect(other.statusCode).toBe(400);
    expect(other.json().error).toBe('invalid_request');
  });
});

interface Chain extends Brokered {
  readonly intermediary: TestAgent;
  /** The intermediary's downstream person token, obtained with the upstream token. */
  readonly personToken: { readonly jti: string; readonly sub: string };
  /** Its downstream resource token (`aud` = this PS unless `aud` says otherwise). */
  readonly rt: string;
}

/**
 * A brokered upstream token, and the intermediary's downstream person and resource tokens from it
 * (alice consented to `charge` at DOWNSTREAM for the intermediary beforehand).
 */
async function buildChain(
  options: { mission?: boolean; lifetimeSeconds?: number; aud?: string } = {},
): Promise<Chain> {
  const { aud, ...brokering } = options;
  const brokered = await brokerUpstream(brokering);
  const intermediary = newIntermediary();
  await consentAtDownstream(intermediary, 'charge');
  const pt = await downstreamPersonToken(intermediary, brokered.upstream);
  const rt = downstreamResourceToken(intermediary, pt.claims, aud);
  return { ...brokered, intermediary, personToken: pt.claims, rt };
}

describe('four-party upstream_token at POST /token (§PS Token Endpoint, §Call Chaining)', () => {
  it('issues the downstream auth token for the same person, with the downstream sub', async () => {
    const { upstream, claims, intermediary, personToken, rt } = await buildChain();
    const res = await requestAuthToken(t, intermediary, { resource_token: rt, upstream_token: upstream });
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const issued = decodeClaims(res.json().auth_token);
    expect(issued).toMatchObject({
      iss: ISSUER,
      aud: DOWNSTREAM,
      ps: ISSUER,
      sub: personToken.sub,
      scope: 'charge',
      cnf: { jwk: intermediary.key.jwk },
    });
    expect(issued.sub).toBe(await downstreamSub());
    expect(issued.sub).not.toBe(claims.sub);
    expect(await t.prisma.issuedAuthToken.findUnique({ where: { jti: issued.jti as string } })).toMatchObject(
      {
        iss: ISSUER,
        personId: await aliceId(),
        agentIss: RESOURCE,
        agentSub: intermediary.claims.sub,
      },
    );
    // Without the upstream token the intermediary acts for nobody.
    const alone = await requestAuthToken(t, intermediary, { resource_token: rt });
    expect(alone.statusCode).toBe(400);
    expect(alone.json().error).toBe('invalid_agent_token');
  });

  it('evaluates the downstream request under the AS token’s mission', async () => {
    const { upstream, claims, intermediary, rt } = await buildChain({ mission: true });
    const res = await requestAuthToken(t, intermediary, { resource_token: rt, upstream_token: upstream });
    expect(res.statusCode).toBe(200);
    expect(decodeClaims(res.json().auth_token)).toMatchObject({
      aud: DOWNSTREAM,
      mission_s256: claims.mission_s256,
    });
    const log = await t.prisma.missionLogEntry.findMany({
      where: { missionS256: claims.mission_s256 as string, kind: 'token_request' },
    });
    expect(log.map((entry) => (entry.detail as { resource?: string }).resource)).toContain(DOWNSTREAM);
  });

  it('brokers a four-party downstream request to the AS with the upstream_token', async () => {
    const { upstream, intermediary, personToken, rt } = await buildChain({ aud: AS });
    let granted = '';
    handle = (_body, reply) => {
      granted = makeAuthToken({
        issuer: accessServer,
        clock: t.clock,
        key: intermediary.key,
        aud: DOWNSTREAM,
        ps: ISSUER,
        sub: personToken.sub,
        scope: 'charge',
      }).jwt;
      return reply.code(200).send({ auth_token: granted, expires_in: 3600 });
    };
    const res = await requestAuthToken(t, intermediary, { resource_token: rt, upstream_token: upstream });
    expect(res.statusCode).toBe(200);
    expect(res.json().auth_token).toBe(granted);
    expect(asCalls).toHaveLength(1);
    expect(asCalls[0]).toMatchObject({
      resource_token: rt,
      agent_token: intermediary.jwt,
      upstream_token: upstream,
    });
  });
});

const UNTRUSTED =
  'The upstream_token was neither issued by this person server nor brokered by it from an access server.';

interface RejectionCase {
  readonly name: string;
  readonly detail: string;
  /**
   * The upstream token to present, and who presents it with which resource token; `cleanup` undoes
   * what `prepare` changed outside the chain's own records.
   */
  prepare(
    chain: Chain,
  ): Promise<{ upstream: string; signer?: TestAgent; rt?: string; cleanup?: () => Promise<unknown> }>;
  /** The case changes the chain (its records, the clock): it gets a chain of its own. */
  readonly ownChain?: { readonly lifetimeSeconds?: number };
}

function asTokenLike(chain: Chain, claims: Record<string, unknown> = {}, issuer = accessServer): string {
  return makeAuthToken({
    issuer,
    clock: t.clock,
    key: chain.bound.agent.key,
    aud: RESOURCE,
    ps: ISSUER,
    sub: chain.claims.sub as string,
    scope: 'notes.read',
    claims,
  }).jwt;
}

const rejections: RejectionCase[] = [
  {
    name: 'an AS this PS does not federate with (step 2), at no discovery cost',
    detail: UNTRUSTED,
    prepare: async (chain) => ({ upstream: asTokenLike(chain, {}, rogueAs) }),
  },
  {
    name: 'an AS token this PS never brokered (step 2)',
    detail: UNTRUSTED,
    prepare: async (chain) => ({ upstream: asTokenLike(chain) }),
  },
  {
    name: 'an AS token issued through another PS (step 2)',
    detail: UNTRUSTED,
    prepare: async (chain) => ({
      upstream: asTokenLike(chain, { jti: chain.claims.jti, ps: 'https://other-ps.example' }),
    }),
  },
  {
    name: 'an AS token naming a PS key document (dwk aauth-person.json)',
    detail: UNTRUSTED,
    prepare: async (chain) => ({ upstream: asTokenLike(chain, { jti: chain.claims.jti, dwk: DWK.person }) }),
  },
  {
    name: 'a brokered token whose signature does not verify (step 1)',
    detail: 'The upstream_token is not a valid auth token.',
    prepare: async (chain) => {
      const [header, payload] = chain.upstream.split('.');
      const forged = asTokenLike(chain, { jti: chain.claims.jti, scope: 'notes.read notes.write' });
      return { upstream: `${header}.${payload}.${forged.split('.')[2]}` };
    },
  },
  {
    name: 'an expired brokered token (step 1)',
    detail: 'The upstream_token has expired.',
    ownChain: { lifetimeSeconds: 60 },
    prepare: async (chain) => {
      t.clock.advance(61_000);
      return { upstream: chain.upstream };
    },
  },
  {
    name: 'a brokered token presented by an agent it was not issued to (step 3: aud)',
    detail: 'The upstream_token was not issued to the signing agent.',
    // The original agent itself, with a resource token of its own that passes on its own.
    prepare: async (chain) => ({
      upstream: chain.upstream,
      signer: chain.bound.agent,
      rt: mintResourceToken(t, resource, chain.bound).jwt,
    }),
  },
  {
    name: 'a brokered token since revoked',
    detail: 'The upstream_token is not an authorization this person server holds.',
    ownChain: {},
    prepare: async (chain) => {
      await t.prisma.issuedAuthToken.update({
        where: { jti: chain.claims.jti as string },
        data: { revokedAt: new Date(t.clock.now()) },
      });
      return { upstream: chain.upstream };
    },
  },
  {
    name: 'a brokered token whose sub no longer names a person at its aud',
    detail: "The upstream_token's sub is not this person server's subject at its aud.",
    prepare: async (chain) => {
      // Every chain here is alice's at RESOURCE: the row comes back for the cases after this one.
      const row = await t.prisma.directedSubject.delete({
        where: { personId_resource: { personId: await aliceId(), resource: RESOURCE } },
      });
      return { upstream: chain.upstream, cleanup: () => t.prisma.directedSubject.create({ data: row }) };
    },
  },
];

/** Rows a token request could write: none may appear when it is refused. */
async function storedRows(): Promise<number[]> {
  return Promise.all([
    t.prisma.personTokenRecord.count(),
    t.prisma.issuedAuthToken.count(),
    t.prisma.pendingRequest.count(),
    t.prisma.directedSubject.count(),
    t.prisma.resourceConsent.count(),
    t.prisma.scopeConsent.count(),
    t.prisma.missionLogEntry.count(),
  ]);
}

describe('four-party upstream_token refusals: 400 invalid_request, nothing stored', () => {
  /** Cases that change nothing share one chain (setting one up takes a person's consent). */
  let shared: Chain | undefined;
  for (const endpoint of ['/person', '/token'] as const) {
    for (const rejection of rejections) {
      it(`${endpoint}: ${rejection.name}`, async () => {
        let chain: Chain;
        if (rejection.ownChain !== undefined) chain = await buildChain(rejection.ownChain);
        else chain = shared ??= await buildChain();
        const { intermediary } = chain;
        const { upstream, signer = intermediary, rt = chain.rt, cleanup } = await rejection.prepare(chain);
        const before = await storedRows();
        const lookups = keyLookups.length;
        // The same body signed in the same second as the request above would be a replay.
        t.clock.advance(1000);
        const res =
          endpoint === '/person'
            ? await requestPersonToken(signer, { resource: DOWNSTREAM, upstream_token: upstream })
            : await requestAuthToken(t, signer, { resource_token: rt, upstream_token: upstream });
        expect(res.statusCode, res.body).toBe(400);
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(res.headers['signature-error']).toBeUndefined();
        expect(res.json()).toMatchObject({ error: 'invalid_request', detail: rejection.detail });
        expect(await storedRows()).toEqual(before);
        expect(asCalls).toEqual([]);
        expect(keyLookups.slice(lookups)).not.toContain(ROGUE_AS);
        await cleanup?.();
      });
    }
  }
});
