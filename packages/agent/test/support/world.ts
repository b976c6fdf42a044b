import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type AAuthRequirement,
  computeMissionS256,
  createLocalKeyResolver,
  createTokenVerifier,
  DEV,
  DWK,
  decodeJwtUnverified,
  encodeMission,
  type PublicJwk,
  parseAgentIdentifier,
  type RouteSignaturePolicy,
  serializeAAuthRequirement,
  type VerifiedRequestSignature,
  verifyRequestSignature,
} from '@aauth-ref/core';
import { createFakeClock, createTestIssuer, makeAgentId } from '@aauth-ref/testkit';
import { Agent, type AgentOptions, createMemoryStore } from '../../src/index.js';

/** A request as a stub sees it. */
export interface StubRequest {
  readonly method: string;
  readonly path: string;
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
  json(): Record<string, unknown>;
}

export interface StubReply {
  readonly status: number;
  readonly headers?: Record<string, string>;
  readonly body?: unknown;
}

export type Handler = (request: StubRequest) => StubReply | Promise<StubReply>;

export interface Stub {
  readonly url: string;
  readonly requests: StubRequest[];
  route(method: string, path: string, handler: Handler): void;
  hits(method: string, path: string): number;
  close(): Promise<void>;
}

/** A loopback `node:http` server answering from a route table (unknown routes: 404). */
export async function startStub(): Promise<Stub> {
  const routes = new Map<string, Handler>();
  const requests: StubRequest[] = [];
  let url = '';
  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (typeof value === 'string') headers[name] = value;
      else if (Array.isArray(value)) headers[name] = value.join(', ');
    }
    const path = (req.url ?? '/').split('?')[0]!;
    const request: StubRequest = {
      method: req.method ?? 'GET',
      path,
      url: `${url}${req.url ?? '/'}`,
      headers,
      body,
      json: () => (body.length === 0 ? {} : JSON.parse(body.toString('utf8'))),
    };
    requests.push(request);
    const handler = routes.get(`${request.method} ${path}`);
    let reply: StubReply;
    try {
      reply = handler ? await handler(request) : { status: 404, body: { error: 'not_found' } };
    } catch (err) {
      reply = { status: 500, body: { error: 'server_error', detail: String(err) } };
    }
    const bytes = reply.body === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(reply.body));
    res.writeHead(reply.status, {
      ...(reply.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...reply.headers,
    });
    res.end(bytes);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    requests,
    route(method, path, handler) {
      routes.set(`${method} ${path}`, handler);
    },
    hits: (method, path) => requests.filter((r) => r.method === method && r.path === path).length,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export const PERSON_SUB = 'person-directed-1';
export const INTERACTION_CODE = 'ABCD-EFGH';

export function requirementHeader(requirement: AAuthRequirement): Record<string, string> {
  return { 'aauth-requirement': serializeAAuthRequirement(requirement, DEV) };
}

/**
 * A Person Server with its Agent Provider on one origin (as in the demo) and a resource, both stubs
 * that verify the agent's signatures with core's real verifier.
 */
export async function createWorld() {
  const clock = createFakeClock();
  const ps = await startStub();
  const rs = await startStub();
  const ap = createTestIssuer({
    dwk: DWK.agent,
    issuer: ps.url,
    metadata: {
      enrollment_endpoint: `${ps.url}/agent/enroll`,
      agent_token_endpoint: `${ps.url}/agent/token`,
      subagent_token_endpoint: `${ps.url}/agent/subagent-token`,
    },
  });
  const psIssuer = createTestIssuer({
    dwk: DWK.person,
    issuer: ps.url,
    metadata: {
      person_token_endpoint: `${ps.url}/person`,
      auth_token_endpoint: `${ps.url}/token`,
      mission_endpoint: `${ps.url}/mission`,
    },
  });
  /** Members added to the PS metadata a test needs (e.g. `interaction_endpoint`). */
  const psMetadataExtra: Record<string, unknown> = {};
  const rsIssuer = createTestIssuer({ dwk: DWK.resource, issuer: rs.url });
  const keys = createLocalKeyResolver([ap, psIssuer, rsIssuer]);
  const tokens = createTokenVerifier({ clock, keys, identifierPolicy: DEV });
  const agentId = makeAgentId(ps.url);
  const enrolled = new Set<string>();
  const sleeps: number[] = [];
  const interactions: { url: string; code: string }[] = [];

  const verify = async (
    request: StubRequest,
    policy: RouteSignaturePolicy = {},
  ): Promise<VerifiedRequestSignature> => {
    const verified = await verifyRequestSignature(
      { method: request.method, url: request.url, headers: request.headers, body: request.body },
      policy,
      { clock, keys, tokens, identifierPolicy: DEV },
    );
    if (!verified) throw new Error('unsigned request');
    return verified;
  };
  const tokenOf = (verified: VerifiedRequestSignature) => {
    if (verified.signer.scheme !== 'jwt') throw new Error('not a jwt signer');
    return verified.signer.token;
  };

  ps.route('GET', '/.well-known/aauth-agent.json', () => ({ status: 200, body: ap.metadata }));
  ps.route('GET', '/.well-known/aauth-person.json', () => ({
    status: 200,
    body: { ...psIssuer.metadata, ...psMetadataExtra },
  }));
  rs.route('GET', '/.well-known/aauth-resource.json', () => ({ status: 200, body: rsIssuer.metadata }));
  ps.route('POST', '/agent/enroll', async (request) => {
    const verified = await verify(request, { schemes: ['hwk'], requireBodyComponents: true });
    if (verified.signer.scheme !== 'hwk') throw new Error('not hwk');
    enrolled.add(verified.signer.thumbprint);
    return {
      status: 202,
      headers: {
        location: '/agent/enroll/pending/1',
        'retry-after': '0',
        'cache-control': 'no-store',
        ...requirementHeader({
          requirement: 'interaction',
          url: `${ps.url}/interaction`,
          code: INTERACTION_CODE,
        }),
      },
      body: { status: 'pending' },
    };
  });
  ps.route('GET', '/agent/enroll/pending/1', async (request) => {
    await verify(request, { schemes: ['hwk'] });
    return { status: 200, body: { status: 'approved', agent: agentId } };
  });
  ps.route('POST', '/agent/token', async (request) => {
    const verified = await verify(request, { schemes: ['jkt-jwt'], requireBodyComponents: true });
    if (verified.signer.scheme !== 'jkt-jwt') throw new Error('not jkt-jwt');
    if (!enrolled.has(verified.signer.durableThumbprint))
      return { status: 400, body: { error: 'invalid_request' } };
    const agent_token = ap.issue(
      'agent',
      { sub: agentId, cnf: { jwk: verified.signer.newKey.jwk }, ps: ps.url },
      { clock, lifetimeSeconds: 3600 },
    );
    return { status: 200, body: { agent_token, expires_in: 3600 } };
  });
  /**
   * §Parent-Mediated Authorization: the key a PS request's token binds — the signer's, or, with a
   * `subagent_token` naming the signer as `parent_agent`, the sub-agent's.
   */
  const boundKey = async (signer: ReturnType<typeof tokenOf>, body: Record<string, unknown>) => {
    if (body.subagent_token === undefined) return signer.cnfKey!.jwk as PublicJwk;
    const sub = await tokens.verify(body.subagent_token as string, { kinds: ['agent'] });
    if ((sub.claims as { parent_agent?: string }).parent_agent !== signer.claims.sub)
      throw new Error('subagent_token does not name the signer');
    return sub.cnfKey!.jwk as PublicJwk;
  };
  const issuePersonToken = (resource: string, jwk: unknown, claims: Record<string, unknown> = {}) =>
    psIssuer.issue('person', { aud: resource, sub: PERSON_SUB, cnf: { jwk }, ...claims } as never, {
      clock,
      lifetimeSeconds: 3600,
    });
  ps.route('POST', '/person', async (request) => {
    const token = tokenOf(await verify(request, { requireBodyComponents: true }));
    const body = request.json();
    const person_token = issuePersonToken(body.resource as string, await boundKey(token, body), {
      ...(body.mission_s256 === undefined ? {} : { mission_s256: body.mission_s256 }),
    });
    return { status: 200, body: { person_token, expires_in: 3600 } };
  });
  /** A sub-agent token as the demo AP issues it: `local` = parent's + `+` + discriminator. */
  ps.route('POST', '/agent/subagent-token', async (request) => {
    const token = tokenOf(await verify(request, { requireBodyComponents: true }));
    if ((token.claims as { parent_agent?: string }).parent_agent !== undefined)
      return { status: 403, body: { error: 'forbidden' } };
    const body = request.json();
    const parent = parseAgentIdentifier(token.claims.sub, DEV)!;
    const agent_token = ap.issue(
      'agent',
      {
        sub: `aauth:${parent.local}+${body.discriminator as string}@${parent.domain}`,
        cnf: { jwk: body.jwk },
        ps: ps.url,
        parent_agent: token.claims.sub,
      } as never,
      { clock, lifetimeSeconds: 3600 },
    );
    return { status: 200, body: { agent_token, expires_in: 3600 } };
  });
  /** The PS's auth token as it would issue it for a resource token; `override` bends claims for negative tests. */
  const issueAuthToken = (resourceToken: string, cnfJwk: unknown, override: Record<string, unknown> = {}) => {
    const rt = decodeJwtUnverified(resourceToken).payload;
    return psIssuer.issue(
      'auth',
      { aud: rt.iss, ps: ps.url, sub: rt.sub, cnf: { jwk: cnfJwk }, scope: rt.scope, ...override } as never,
      { clock, lifetimeSeconds: 3600 },
    );
  };
  ps.route('POST', '/token', async (request) => {
    const token = tokenOf(await verify(request, { requireBodyComponents: true }));
    const body = request.json();
    const auth_token = issueAuthToken(body.resource_token as string, await boundKey(token, body));
    return { status: 200, body: { auth_token, expires_in: 3600 } };
  });

  /**
   * §Mission Approval as the PS builds it: the blob bytes, their `s256`, and a person token per
   * approved resource carrying `mission_s256`. `blob` / `override` bend it for negative tests.
   */
  const approveMission = (
    agent: string,
    cnfJwk: unknown,
    proposal: Record<string, unknown>,
    options: { blob?: Record<string, unknown>; override?: Record<string, unknown> } = {},
  ) => {
    const resources = (proposal.resources as string[] | undefined) ?? [];
    const blob = {
      approver: ps.url,
      agent,
      approved_at: new Date(clock.now()).toISOString(),
      description: proposal.description,
      ...(proposal.tools === undefined ? {} : { approved_tools: proposal.tools }),
      ...(proposal.resources === undefined ? {} : { approved_resources: resources }),
      ...options.blob,
    };
    const bytes = new TextEncoder().encode(JSON.stringify(blob));
    const s256 = computeMissionS256(bytes);
    const person_tokens: Record<string, string> = {};
    for (const resource of resources)
      person_tokens[resource] = issuePersonToken(resource, cnfJwk, { mission_s256: s256 });
    return {
      s256,
      mission: encodeMission(bytes),
      capabilities: ['interaction', 'payment'],
      ...(proposal.resources === undefined ? {} : { person_tokens }),
      ...options.override,
    };
  };
  /** The default mission endpoint: approved at once (tests replace it for deferred review). */
  ps.route('POST', '/mission', async (request) => {
    const token = tokenOf(await verify(request, { requireBodyComponents: true }));
    return { status: 200, body: approveMission(token.claims.sub, token.cnfKey!.jwk, request.json()) };
  });

  const resourceToken = (agentJkt: string, claims: Record<string, unknown> = {}, lifetimeSeconds = 300) =>
    rsIssuer.issue(
      'resource',
      {
        aud: ps.url,
        ps: ps.url,
        sub: PERSON_SUB,
        presented_jti: 'person-jti',
        agent_jkt: agentJkt,
        scope: 'notes.read',
        ...claims,
      } as never,
      { clock, lifetimeSeconds },
    );

  const makeAgent = (overrides: Partial<AgentOptions> = {}) =>
    new Agent({
      store: createMemoryStore(),
      clock,
      sleep: async (ms) => {
        sleeps.push(ms);
        clock.advance(ms);
      },
      keys,
      identifierPolicy: DEV,
      onInteraction: (prompt) => {
        interactions.push({ url: prompt.url, code: prompt.code });
      },
      ...overrides,
    });

  /** An agent already enrolled (the enrollment requests are forgotten from `ps.requests`). */
  const enrolledAgent = async (overrides: Partial<AgentOptions> = {}) => {
    const agent = makeAgent(overrides);
    await agent.enroll(ps.url);
    ps.requests.length = 0;
    interactions.length = 0;
    sleeps.length = 0;
    return agent;
  };

  return {
    clock,
    ps,
    rs,
    ap,
    psIssuer,
    rsIssuer,
    keys,
    verify,
    tokenOf,
    issueAuthToken,
    issuePersonToken,
    approveMission,
    psMetadataExtra,
    resourceToken,
    makeAgent,
    enrolledAgent,
    sleeps,
    interactions,
    close: async () => {
      await ps.close();
      await rs.close();
    },
  };
}

export type World = Awaited<ReturnType<typeof createWorld>>;
