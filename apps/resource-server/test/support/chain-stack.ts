import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FetchLike } from '@aauth-ref/agent';
import {
  type AgentTokenClaims,
  type Capability,
  createEgressPolicy,
  createHttpKeyResolver,
  createTokenVerifier,
  DEV,
  DWK,
  decodeJwtUnverified,
  type GuardedFetch,
  generateInteractionCode,
  type IssuerKeyResolver,
  type TokenVerifier,
  verifyRequestSignature,
} from '@aauth-ref/core';
import { createTestDatabase } from '@aauth-ref/db/testing';
import { createKeyRing, generateSigningKeysJwks, type KeyRing } from '@aauth-ref/fastify';
import { createFakeClock, createTestIssuer, type FakeClock, type TestIssuer } from '@aauth-ref/testkit';
import type { FastifyInstance } from 'fastify';
import { buildApp, MIGRATIONS_DIR } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createPrismaClient, type PrismaClient } from '../../src/stores/prisma.js';

/**
 * Two instances of the resource server and a stub Person Server, wired in-process: every request
 * one party makes to another (metadata, JWKS, token endpoints, pending URLs, the downstream
 * resource) goes through `route`, which hands it to the target's `app.inject` or the stub's handler.
 * Keys are discovered over that "HTTP" with core's real resolver, so the chaining resource's agent
 * token verifies against its own `/.well-known/aauth-agent.json`. No socket is opened.
 */

export const UPSTREAM = 'http://localhost:3003';
export const DOWNSTREAM = 'http://localhost:3004';
export const PS = 'https://ps.example';
/** The upstream resource's access server (four-party), whose auth tokens the upstream trusts. */
export const AS = 'https://as.example';

export interface RoutedResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
}

type Handler = (request: {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body: Buffer | undefined;
}) => Promise<RoutedResponse>;

export interface ResourceInstance {
  app: FastifyInstance;
  readonly keys: KeyRing;
  readonly prisma: PrismaClient;
  restart(): Promise<void>;
  close(): Promise<void>;
}

/** One request the stub PS received: the verified agent token that signed it and the JSON body. */
export interface PsCall {
  readonly method: string;
  readonly path: string;
  readonly agentToken: AgentTokenClaims;
  readonly rawAgentToken: string;
  readonly body: Record<string, unknown> | undefined;
}

interface PendingEntry {
  code: string;
  approved: boolean;
  denied?: boolean;
  result: Record<string, unknown>;
}

export interface StubPersonServer {
  readonly issuer: TestIssuer;
  readonly calls: PsCall[];
  /** `direct` grants at once; `interaction` answers every request `202 requirement=interaction`. */
  mode: 'direct' | 'interaction';
  /** When set, every token request is answered with this problem (after it is recorded in `calls`). */
  refusal: { readonly status: number; readonly error: string; readonly detail: string } | undefined;
  /** When set, replaces the stub's answer to each signed request (a PS that answers malformed). */
  rewrite: ((call: PsCall, answer: RoutedResponse) => RoutedResponse) | undefined;
  /** The interaction codes handed out, by pending id. */
  readonly pending: Map<string, PendingEntry>;
  /** Marks the pending request holding `code` approved (the person finished at the PS). */
  approve(code: string): void;
  /** Marks it denied: its next poll is `403 denied` (§Polling Error Codes). */
  deny(code: string): void;
  /** The directed `sub` this PS uses for `person` at `resource` (§Directed Identifiers Across a Chain). */
  directedSub(person: string, resource: string): string;
  readonly handler: Handler;
}

export interface ChainStack {
  readonly clock: FakeClock;
  readonly ps: StubPersonServer;
  /** The original caller's Agent Provider (stub). */
  readonly ap: TestIssuer;
  /** The upstream resource's access server (`ACCESS_SERVER`; keys only, it is never called). */
  readonly as: TestIssuer;
  readonly upstream: ResourceInstance;
  readonly downstream: ResourceInstance;
  /** `fetch` over the in-process router (what the chaining resource uses). */
  readonly fetch: FetchLike;
  /** A token verifier discovering keys over the router, like any remote party. */
  readonly verifier: TokenVerifier;
  close(): Promise<void>;
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): RoutedResponse {
  return {
    status,
    headers: { 'content-type': 'application/json', ...headers },
    body: Buffer.from(JSON.stringify(body)),
  };
}

function problem(status: number, error: string, detail: string): RoutedResponse {
  return {
    status,
    headers: { 'content-type': 'application/problem+json' },
    body: Buffer.from(JSON.stringify({ status, error, detail })),
  };
}

function injectHandler(instance: () => FastifyInstance): Handler {
  return async ({ method, url, headers, body }) => {
    const response = await instance().inject({
      method: method as 'GET',
      url: `${url.pathname}${url.search}`,
      headers: { ...headers, host: url.host },
      ...(body === undefined ? {} : { payload: body }),
    });
    const out: Record<string, string> = {};
    for (const [name, value] of Object.entries(response.headers)) {
      if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : String(value);
    }
    return { status: response.statusCode, headers: out, body: response.rawPayload };
  };
}

function createStubPersonServer(
  clock: FakeClock,
  verifier: () => TokenVerifier,
  keys: () => IssuerKeyResolver,
): StubPersonServer {
  const issuer = createTestIssuer({
    dwk: DWK.person,
    issuer: PS,
    metadata: { person_token_endpoint: `${PS}/person`, auth_token_endpoint: `${PS}/token` },
  });
  const calls: PsCall[] = [];
  const pending = new Map<string, PendingEntry>();

  function directedSub(person: string, resource: string): string {
    return createHash('sha256').update(`${person}|${resource}`).digest('hex').slice(0, 32);
  }

  /** The person an upstream auth token names (this stub's subjects are `person` at the upstream). */
  function personOf(upstreamSub: string): string | undefined {
    return upstreamSub === directedSub('alice', UPSTREAM) ? 'alice' : undefined;
  }

  async function verifyUpstream(
    token: unknown,
    signer: AgentTokenClaims,
  ): Promise<{ person: string } | RoutedResponse> {
    if (typeof token !== 'string') return problem(400, 'invalid_request', 'upstream_token is required');
    let verified: Awaited<ReturnType<TokenVerifier['verify']>>;
    try {
      verified = await verifier().verify(token, { kinds: ['auth'] });
    } catch {
      return problem(400, 'invalid_request', 'upstream_token does not verify');
    }
    const claims = verified.claims as { iss: string; aud: string; sub: string; ps: string; dwk: string };
    // §Upstream Token Verification step 2 and 3: its own auth tokens, or an access server's naming this
    // PS (four-party; the reference PS also requires its record of having brokered that very token).
    const brokered = claims.iss === AS && claims.dwk === DWK.access && claims.ps === PS;
    if (claims.iss !== PS && !brokered) {
      return problem(400, 'invalid_request', 'upstream_token not issued here');
    }
    if (claims.aud !== signer.iss)
      return problem(400, 'invalid_request', 'upstream_token aud is not the signer');
    const person = personOf(claims.sub);
    if (person === undefined) return problem(400, 'invalid_request', 'unknown person');
    return { person };
  }

  function deferOrIssue(capabilities: unknown, result: Record<string, unknown>): RoutedResponse {
    if (stub.mode === 'direct') return json(200, result, { 'cache-control': 'no-store' });
    if (!Array.isArray(capabilities) || !(capabilities as Capability[]).includes('interaction')) {
      return problem(403, 'user_unreachable', 'the agent cannot bring the person');
    }
    const id = randomUUID();
    const code = generateInteractionCode();
    pending.set(id, { code, approved: false, result });
    return pendingReply(id, code);
  }

  function pendingReply(id: string, code: string, status = 'pending'): RoutedResponse {
    return json(
      202,
      { status },
      {
        location: `/pending/${id}`,
        'retry-after': '0',
        'cache-control': 'no-store',
        'aauth-requirement': `requirement=interaction; url="${PS}/interaction"; code="${code}"`,
      },
    );
  }

  const answer: Handler = async (request) => {
    const path = request.url.pathname;
    if (request.method === 'GET' && path === `/.well-known/${DWK.person}`) return json(200, issuer.metadata);
    if (request.method === 'GET' && path === new URL(issuer.jwksUri).pathname)
      return json(200, issuer.jwks());
    // Every other endpoint is signed by an agent presenting its agent token (§PS Token Endpoint).
    let signature: Awaited<ReturnType<typeof verifyRequestSignature>>;
    try {
      signature = await verifyRequestSignature(
        {
          method: request.method,
          url: request.url.href,
          headers: request.headers,
          ...(request.body === undefined ? {} : { body: request.body }),
        },
        { schemes: ['jwt'], tokenKinds: ['agent'], requireBodyComponents: true },
        { clock, keys: keys(), tokens: verifier(), identifierPolicy: DEV },
      );
    } catch (err) {
      return problem(401, 'invalid_signature', String(err));
    }
    if (signature?.signer.scheme !== 'jwt') return problem(401, 'invalid_signature', 'unsigned');
    const agentToken = signature.signer.token.claims as AgentTokenClaims;
    const body =
      request.body === undefined || request.body.length === 0
        ? undefined
        : (JSON.parse(request.body.toString('utf8')) as Record<string, unknown>);
    calls.push({
      method: request.method,
      path,
      agentToken,
      rawAgentToken: signature.signer.token.raw,
      body,
    });
    const cnf = { jwk: agentToken.cnf.jwk };
    if (stub.refusal !== undefined) {
      return problem(stub.refusal.status, stub.refusal.error, stub.refusal.detail);
    }

    if (request.method === 'POST' && path === '/person') {
      const upstream = await verifyUpstream(body?.upstream_token, agentToken);
      if ('status' in upstream) return upstream;
      const resource = String(body?.resource);
      const personToken = issuer.issue(
        'person',
        { aud: resource, sub: directedSub(upstream.person, resource), cnf } as never,
        { clock, lifetimeSeconds: 3600 },
      );
      return deferOrIssue(body?.capabilities, { person_token: personToken, expires_in: 3600 });
    }
    if (request.method === 'POST' && path === '/token') {
      const upstream = await verifyUpstream(body?.upstream_token, agentToken);
      if ('status' in upstream) return upstream;
      let resourceToken: Record<string, unknown>;
      try {
        resourceToken = (await verifier().verify(String(body?.resource_token), { kinds: ['resource'] }))
          .claims as unknown as Record<string, unknown>;
      } catch {
        return problem(400, 'invalid_resource_token', 'resource token does not verify');
      }
      if (resourceToken.aud !== PS || resourceToken.agent_jkt !== signature.key.thumbprint) {
        return problem(400, 'invalid_resource_token', 'not for this PS or this agent');
      }
      // §Directed Identifiers Across a Chain: the sub comes from the downstream resource token.
      const authToken = issuer.issue(
        'auth',
        {
          aud: resourceToken.iss,
          ps: PS,
          sub: resourceToken.sub,
          scope: resourceToken.scope,
          cnf,
        } as never,
        { clock, lifetimeSeconds: 3600 },
      );
      return deferOrIssue(body?.capabilities, { auth_token: authToken, expires_in: 3600 });
    }
    const match = /^\/pending\/([^/]+)$/.exec(path);
    if (request.method === 'GET' && match) {
      const entry = pending.get(match[1]!);
      if (entry === undefined) return problem(404, 'not_found', 'no such pending request');
      if (entry.denied) {
        pending.delete(match[1]!);
        return problem(403, 'denied', 'the person said no');
      }
      if (!entry.approved) return pendingReply(match[1]!, entry.code, 'interacting');
      pending.delete(match[1]!);
      return json(200, entry.result, { 'cache-control': 'no-store' });
    }
    return problem(404, 'not_found', 'no such endpoint');
  };

  const handler: Handler = async (request) => {
    const recorded = calls.length;
    const genuine = await answer(request);
    const call = calls.length > recorded ? calls.at(-1) : undefined;
    return call === undefined || stub.rewrite === undefined ? genuine : stub.rewrite(call, genuine);
  };

  const stub: StubPersonServer = {
    issuer,
    calls,
    mode: 'direct',
    refusal: undefined,
    rewrite: undefined,
    pending,
    approve(code) {
      for (const entry of pending.values()) if (entry.code === code) entry.approved = true;
    },
    deny(code) {
      for (const entry of pending.values()) if (entry.code === code) entry.denied = true;
    },
    directedSub,
    handler,
  };
  return stub;
}

export async function startChainStack(): Promise<ChainStack> {
  const clock = createFakeClock();
  const ap = createTestIssuer({ dwk: DWK.agent, issuer: 'https://agent.example' });
  const handlers = new Map<string, Handler>();

  async function route(
    url: string,
    method: string,
    headers: Record<string, string>,
    body: Buffer | undefined,
  ): Promise<RoutedResponse> {
    const target = new URL(url);
    const handler = handlers.get(target.origin);
    if (!handler) throw new Error(`no route to ${target.origin}`);
    return handler({ method, url: target, headers, body });
  }

  const guardedFetch: GuardedFetch = async (url, request = {}) => {
    const headers = { ...request.headers, accept: request.accept ?? 'application/json' };
    const response = await route(
      url,
      request.method ?? 'GET',
      headers,
      request.body ? Buffer.from(request.body) : undefined,
    );
    return { ...response, url };
  };
  const fetch: FetchLike = async (url, init) => {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries((init.headers ?? {}) as Record<string, string>)) {
      headers[name.toLowerCase()] = value;
    }
    const body = init.body instanceof Uint8Array ? Buffer.from(init.body) : undefined;
    const response = await route(url, init.method ?? 'GET', headers, body);
    const empty = response.body.length === 0 || response.status === 204;
    return new Response(empty ? null : new Uint8Array(response.body), {
      status: response.status,
      headers: response.headers,
    });
  };

  const keys = createHttpKeyResolver({
    policy: createEgressPolicy({ devMode: true }),
    fetch: guardedFetch,
    clock,
  });
  const verifier = createTokenVerifier({ clock, keys, identifierPolicy: DEV });
  const ps = createStubPersonServer(
    clock,
    () => verifier,
    () => keys,
  );
  handlers.set(PS, ps.handler);
  const as = createTestIssuer({ dwk: DWK.access, issuer: AS });
  handlers.set(as.issuer, async ({ url }) => {
    if (url.pathname === `/.well-known/${DWK.access}`) return json(200, as.metadata);
    if (url.pathname === new URL(as.jwksUri).pathname) return json(200, as.jwks());
    return problem(404, 'not_found', 'no such endpoint');
  });
  handlers.set(ap.issuer, async ({ url }) => {
    if (url.pathname === `/.well-known/${DWK.agent}`) return json(200, ap.metadata);
    if (url.pathname === new URL(ap.jwksUri).pathname) return json(200, ap.jwks());
    return problem(404, 'not_found', 'no such endpoint');
  });

  async function startResource(issuer: string, env: Record<string, string>): Promise<ResourceInstance> {
    const { db, drop } = await createTestDatabase({ migrationsDir: MIGRATIONS_DIR });
    const dataDir = await mkdtemp(join(tmpdir(), 'rs-chain-'));
    const config = loadConfig({
      AAUTH_DEV: '1',
      LOG_LEVEL: 'silent',
      DATA_DIR: dataDir,
      ISSUER: issuer,
      PORT: new URL(issuer).port,
      PERSON_SERVER_TRUST: PS,
      ...env,
    });
    const prisma = createPrismaClient(db);
    const keyRing = createKeyRing(generateSigningKeysJwks());
    const build = () =>
      buildApp(config, {
        database: db,
        prisma,
        clock,
        keys: keyRing,
        // Each instance discovers the others over the router, as deployed servers do over HTTP.
        remoteKeys: createHttpKeyResolver({
          policy: createEgressPolicy({ devMode: true }),
          fetch: guardedFetch,
          clock,
        }),
        chainFetch: fetch,
        logger: false,
        keepDatabaseOpen: true,
      });
    const instance: ResourceInstance = {
      app: await build(),
      keys: keyRing,
      prisma,
      async restart() {
        await instance.app.close();
        instance.app = await build();
      },
      async close() {
        await instance.app.close();
        await prisma.$disconnect();
        await drop();
      },
    };
    handlers.set(
      issuer,
      injectHandler(() => instance.app),
    );
    return instance;
  }

  const downstream = await startResource(DOWNSTREAM, {});
  const upstream = await startResource(UPSTREAM, { DOWNSTREAM_RESOURCE: DOWNSTREAM, ACCESS_SERVER: AS });
  return {
    clock,
    ps,
    ap,
    as,
    upstream,
    downstream,
    fetch,
    verifier,
    async close() {
      await upstream.close();
      await downstream.close();
    },
  };
}

/** The unverified payload of a JWT. */
export function payloadOf(jwt: string): Record<string, unknown> {
  return decodeJwtUnverified(jwt).payload;
}
