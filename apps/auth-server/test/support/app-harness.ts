import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createCompositeKeyResolver,
  createLocalKeyResolver,
  DiscoveryError,
  DWK,
  type GuardedFetch,
  type IssuerKeyResolver,
  type KeyPair,
  type OutboundFetch,
} from '@aauth-ref/core';
import type { Database } from '@aauth-ref/db';
import { createTestDatabase } from '@aauth-ref/db/testing';
import { createKeyRing, generateSigningKeysJwks, type KeyRing } from '@aauth-ref/fastify';
import {
  createFakeClock,
  createTestIssuer,
  type FakeClock,
  makeAgentId,
  makeKeyPair,
  signedInject,
  type TestBody,
  type TestIssuer,
} from '@aauth-ref/testkit';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildApp, MIGRATIONS_DIR } from '../../src/app.js';
import { type AuthServerConfig, loadConfig } from '../../src/config.js';
import type { PolicyDocument } from '../../src/services/policy.js';
import { createPrismaClient, type PrismaClient } from '../../src/stores/prisma.js';
import { storePolicyDocument } from '../../src/stores/prisma-policies.js';

/** The AS under test: dev-mode issuer, a database of its own, fake clock, stub parties, no network. */

export const AS_ISSUER = 'http://localhost:3002';
export const RESOURCE = 'https://resource.example';

export interface Parties {
  /** The stub Person Server (`aauth-person.json`) that calls the AS. */
  readonly ps: TestIssuer;
  /** Another Person Server, also known to the AS's key resolver. */
  readonly otherPs: TestIssuer;
  readonly resource: TestIssuer;
  /** A resource with no policy at this AS. */
  readonly unknownResource: TestIssuer;
  readonly ap: TestIssuer;
}

export interface TestApp {
  readonly app: FastifyInstance;
  readonly config: AuthServerConfig;
  readonly clock: FakeClock;
  readonly database: Database;
  readonly prisma: PrismaClient;
  readonly keys: KeyRing;
  readonly parties: Parties;
  close(): Promise<void>;
}

export function createParties(): Parties {
  return {
    ps: createTestIssuer({ dwk: DWK.person, issuer: 'https://ps.example' }),
    otherPs: createTestIssuer({ dwk: DWK.person, issuer: 'https://other-ps.example' }),
    resource: createTestIssuer({
      dwk: DWK.resource,
      issuer: RESOURCE,
      metadata: { revocation_endpoint: `${RESOURCE}/revoke` },
    }),
    unknownResource: createTestIssuer({ dwk: DWK.resource, issuer: 'https://unknown-resource.example' }),
    ap: createTestIssuer({ dwk: DWK.agent, issuer: 'https://agent.example' }),
  };
}

/** A PS whose metadata names another issuer (§Metadata Documents: `issuer` = the fetched identifier). */
export const MISMATCHED_PS = 'https://mismatched-ps.example';
/** A PS whose metadata has no `issuer`. */
export const ISSUERLESS_PS = 'https://issuerless-ps.example';

function stubResolver(parties: Parties): IssuerKeyResolver {
  const local = createLocalKeyResolver(Object.values(parties));
  const failing: IssuerKeyResolver = {
    async resolveKey(iss) {
      if (iss === MISMATCHED_PS) throw new DiscoveryError('issuer_mismatch', 'metadata names another issuer');
      if (iss === ISSUERLESS_PS) throw new DiscoveryError('issuer_missing', 'metadata has no issuer');
      throw new DiscoveryError('network', 'offline test resolver');
    },
    async metadata() {
      throw new DiscoveryError('network', 'offline test resolver');
    },
  };
  return createCompositeKeyResolver(local, failing);
}

export async function startTestApp(
  options: {
    policy?: PolicyDocument;
    env?: Record<string, string>;
    outboundFetch?: OutboundFetch;
    /** R3 document fetches: a stub resource instead of the network. */
    r3Fetch?: GuardedFetch;
    /** Wraps the test database before the AS uses it (e.g. `recordQueries` of `@aauth-ref/testkit`). */
    wrapDatabase?: (db: Database) => Database;
  } = {},
): Promise<TestApp> {
  const created = await createTestDatabase({ migrationsDir: MIGRATIONS_DIR });
  const { drop } = created;
  const db = options.wrapDatabase ? options.wrapDatabase(created.db) : created.db;
  const dataDir = await mkdtemp(join(tmpdir(), 'as-test-'));
  const config = loadConfig({
    AAUTH_DEV: '1',
    LOG_LEVEL: 'silent',
    DATA_DIR: dataDir,
    // The sweeper reads the fake clock: a test moving it hours ahead must not lose rows mid-file.
    RETENTION_INTERVAL_SECONDS: '0',
    ...options.env,
  });
  const clock = createFakeClock();
  const prisma = createPrismaClient(db);
  if (options.policy) await storePolicyDocument(prisma, options.policy);
  const keys = createKeyRing(generateSigningKeysJwks());
  const parties = createParties();
  const app = await buildApp(config, {
    database: db,
    prisma,
    clock,
    keys,
    remoteKeys: stubResolver(parties),
    ...(options.outboundFetch ? { outboundFetch: options.outboundFetch } : {}),
    ...(options.r3Fetch ? { r3Fetch: options.r3Fetch } : {}),
    logger: false,
    keepDatabaseOpen: true,
  });
  return {
    app,
    config,
    clock,
    database: db,
    prisma,
    keys,
    parties,
    async close() {
      await app.close();
      await prisma.$disconnect();
      await drop();
    },
  };
}

/** A request signed by a Person Server as itself (`jwks_uri`, `dwk=aauth-person.json`). */
export function sendAsPs(
  t: TestApp,
  options: {
    method: string;
    path: string;
    body?: TestBody;
    ps?: { readonly issuer: string; readonly signingKey: KeyPair };
    headers?: Record<string, string>;
  },
): Promise<LightMyRequestResponse> {
  const ps = options.ps ?? t.parties.ps;
  return signedInject(t.app, {
    method: options.method,
    path: options.path,
    ...(options.body === undefined ? {} : { body: options.body }),
    ...(options.headers ? { headers: options.headers } : {}),
    key: ps.signingKey,
    signatureKey: { scheme: 'jwks_uri', id: ps.issuer, dwk: DWK.person, kid: ps.signingKey.kid },
    clock: t.clock,
    issuer: AS_ISSUER,
  });
}

export interface RequestTokensOptions {
  readonly scope?: string;
  /** The resource token's `ps` (default: the stub PS). */
  readonly ps?: string;
  readonly aud?: string;
  readonly resource?: TestIssuer;
  readonly tenant?: string;
  readonly account?: string;
  readonly mission_s256?: string;
  /** Extra claims on the agent token (policy conditions). */
  readonly agentClaims?: Record<string, unknown>;
  readonly agentLifetimeSeconds?: number;
  /** Build a parent-mediated request: a sub-agent token, the resource token bound to its key. */
  readonly subagent?: boolean;
  /** Override the resource token's `agent_jkt`. */
  readonly agentJkt?: string;
  readonly sub?: string;
  /** Further resource-token claims (`r3_uri`, `r3_s256`). */
  readonly claims?: Record<string, unknown>;
}

export interface RequestTokens {
  readonly body: Record<string, string>;
  readonly agentKey: KeyPair;
  readonly subagentKey?: KeyPair;
  readonly agentSub: string;
  readonly sub: string;
  readonly agentExp: number;
}

/** A resource token (aud this AS, ps the stub PS), an agent token and, optionally, a sub-agent token. */
export function makeRequestTokens(t: TestApp, options: RequestTokensOptions = {}): RequestTokens {
  const { ap, ps } = t.parties;
  const agentKey = makeKeyPair();
  const agentSub = makeAgentId(ap);
  const lifetime = options.agentLifetimeSeconds ?? 3600;
  const agent_token = ap.issue(
    'agent',
    { sub: agentSub, cnf: { jwk: agentKey.jwk }, ps: ps.issuer, ...options.agentClaims } as never,
    { clock: t.clock, lifetimeSeconds: lifetime },
  );
  const agentExp = Math.floor(t.clock.now() / 1000) + lifetime;
  let subagentKey: KeyPair | undefined;
  let subagent_token: string | undefined;
  if (options.subagent) {
    subagentKey = makeKeyPair();
    subagent_token = ap.issue(
      'agent',
      {
        sub: agentSub.replace('@', '+worker1@'),
        cnf: { jwk: subagentKey.jwk },
        ps: ps.issuer,
        parent_agent: agentSub,
      } as never,
      { clock: t.clock, lifetimeSeconds: lifetime },
    );
  }
  const sub = options.sub ?? 'directed-sub-1';
  const resource = options.resource ?? t.parties.resource;
  const resource_token = resource.issue(
    'resource',
    {
      aud: options.aud ?? AS_ISSUER,
      ps: options.ps ?? ps.issuer,
      sub,
      presented_jti: 'person-token-jti',
      agent_jkt: options.agentJkt ?? (subagentKey ?? agentKey).thumbprint,
      ...(options.scope === undefined ? {} : { scope: options.scope }),
      ...(options.tenant === undefined ? {} : { tenant: options.tenant }),
      ...(options.account === undefined ? {} : { account: options.account }),
      ...(options.mission_s256 === undefined ? {} : { mission_s256: options.mission_s256 }),
      ...options.claims,
    } as never,
    { clock: t.clock, lifetimeSeconds: 300 },
  );
  return {
    body: { resource_token, agent_token, ...(subagent_token ? { subagent_token } : {}) },
    agentKey,
    ...(subagentKey ? { subagentKey } : {}),
    agentSub,
    sub,
    agentExp,
  };
}

/** The claims of a compact JWT, unverified (tests check what the AS issued). */
export function decodePayload(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}
