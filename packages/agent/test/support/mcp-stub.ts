import { createHash } from 'node:crypto';
import { decodeJwtUnverified } from '@aauth-ref/core';
import { PERSON_SUB, requirementHeader, type StubReply, type StubRequest, type World } from './world.js';

/**
 * A stub AAuth-protected MCP server (stateless Streamable HTTP, JSON responses) on the world's
 * resource, enforcing R3 grants from the auth token (R3 §Resource Enforcement) and per-call
 * proposals on the `401` flow (R3 §Per-Call Proposals), and the world's PS issuing R3 auth tokens
 * for its resource tokens. The PS reads the stub's documents from memory (a real PS fetches them).
 */

export const MCP_VOCABULARY = 'urn:aauth:vocabulary:mcp';

export const STUB_TOOLS = [
  { name: 'whoami', _meta: { 'aauth.dev/access-mode': 'agent-token' } },
  { name: 'create_note', _meta: { 'aauth.dev/access-mode': 'auth-token' } },
  {
    name: 'delete_note',
    annotations: { destructiveHint: true },
    _meta: { 'aauth.dev/access-mode': 'per-call' },
  },
].map((tool) => ({ ...tool, inputSchema: { type: 'object' as const } }));

type Op = { tool: string };

interface R3Doc {
  readonly operations: Op[];
  /** Per-call proposals only. */
  readonly parameters?: Record<string, unknown>;
}

const s256 = (text: string) => createHash('sha256').update(text).digest('base64url');

function rpcResult(id: unknown, result: unknown): StubReply {
  return { status: 200, body: { jsonrpc: '2.0', id, result } };
}

export interface McpStubOptions {
  /**
   * `POST /authorize` answers: a resource token for the `r3_operations` asked (default), `400`, or a
   * resource token for `scope` alone (a resource that ignores `r3_operations`).
   */
  readonly authorize?: 'r3' | 'refuse' | 'scope-only';
}

export function installMcpStub(world: World, options: McpStubOptions = {}) {
  const documents = new Map<string, R3Doc>();
  /** Proposals executed, by `r3_s256`: the retained result (§Per-Call Proposals, *Single use*). */
  const executed = new Map<string, unknown>();
  const deleted: string[] = [];
  /** The per-call challenges sent, in order. */
  const proposals: string[] = [];
  /** Credential kinds presented on each tools/call (`name:kind`). */
  const calls: string[] = [];
  /** Bodies of tools/call requests as received, in order. */
  const callBodies: string[] = [];
  /**
   * `deferCalls`: a tools/call without an auth token is answered with AAuth's deferred form (`202`,
   * `Location`, `requirement=auth-token`) — what an MCP endpoint must not do, and the agent must not
   * hand to the MCP SDK as "accepted". `grantAll`: the PS lists every operation of a class document
   * in `r3_granted` (an issuer that leaves per-call to the resource).
   */
  const state = { rechallengePerCall: false, deferCalls: false, grantAll: false };
  let deferred: { id: unknown; name: string } | undefined;

  const publish = (doc: R3Doc) => {
    const text = JSON.stringify({ vocabulary: MCP_VOCABULARY, ...doc });
    const hash = s256(text);
    documents.set(hash, doc);
    return { r3_uri: `${world.rs.url}/r3/${hash}`, r3_s256: hash };
  };
  const challenge = (jkt: string, doc: R3Doc): StubReply => ({
    status: 401,
    headers: requirementHeader({
      requirement: 'auth-token',
      'resource-token': world.resourceToken(jkt, { ...publish(doc), scope: undefined }),
    }),
  });
  const lists = (claim: unknown, tool: string) =>
    ((claim as { operations?: Op[] } | undefined)?.operations ?? []).some((op) => op.tool === tool);

  world.rs.route('GET', '/mcp/pending/1', async (request) => {
    const token = world.tokenOf(await world.verify(request));
    if (token.kind !== 'auth' || deferred === undefined)
      return {
        status: 202,
        headers: { location: '/mcp/pending/1', 'retry-after': '0' },
        body: { status: 'pending' },
      };
    return rpcResult(deferred.id, { content: [{ type: 'text', text: `held ${deferred.name}` }] });
  });
  world.rs.route('GET', '/mcp', () => ({ status: 405, headers: { allow: 'POST' } }));
  world.rs.route('POST', '/mcp', async (request: StubRequest) => {
    const verified = await world.verify(request, { requireBodyComponents: true });
    const token = world.tokenOf(verified);
    const jkt = token.cnfKey!.thumbprint;
    const message = request.json() as { id?: unknown; method: string; params?: Record<string, unknown> };
    if (message.id === undefined) return { status: 202 };
    switch (message.method) {
      case 'initialize':
        return rpcResult(message.id, {
          protocolVersion: message.params?.protocolVersion,
          capabilities: { tools: {} },
          serverInfo: { name: 'stub-notes', version: '1' },
        });
      case 'tools/list':
        return rpcResult(message.id, { tools: STUB_TOOLS });
      case 'tools/call': {
        const name = message.params?.name as string;
        const args = (message.params?.arguments ?? {}) as Record<string, unknown>;
        calls.push(`${name}:${token.kind}`);
        callBodies.push(request.body.toString('utf8'));
        if (state.deferCalls && token.kind !== 'auth') {
          deferred = { id: message.id, name };
          return {
            status: 202,
            headers: {
              location: '/mcp/pending/1',
              'retry-after': '0',
              'cache-control': 'no-store',
              ...requirementHeader({
                requirement: 'auth-token',
                'resource-token': world.resourceToken(jkt, {
                  ...publish({ operations: [{ tool: name }] }),
                  scope: undefined,
                }),
              }),
            },
            body: { status: 'pending' },
          };
        }
        if (name === 'whoami')
          return rpcResult(message.id, { content: [{ type: 'text', text: token.claims.sub }] });
        if (token.kind === 'agent')
          return { status: 401, headers: requirementHeader({ requirement: 'person-token' }) };
        const claims = token.claims as Record<string, unknown>;
        if (token.kind !== 'auth') return challenge(jkt, { operations: [{ tool: name }] });
        if (name === 'create_note') {
          if (!lists(claims.r3_granted, name)) return challenge(jkt, { operations: [{ tool: name }] });
          return rpcResult(message.id, {
            content: [{ type: 'text', text: 'created' }],
            structuredContent: { text: args.text },
          });
        }
        if (name === 'delete_note') {
          const proposal = documents.get(claims.r3_s256 as string);
          if (
            proposal?.parameters !== undefined &&
            lists(claims.r3_granted, name) &&
            !state.rechallengePerCall
          ) {
            // §Per-Call Proposals, Flow 3–4: the parameters must match; one execution per token.
            if (JSON.stringify(proposal.parameters) !== JSON.stringify(args)) {
              return { status: 403, body: { error: 'forbidden' } };
            }
            const hash = claims.r3_s256 as string;
            if (!executed.has(hash)) {
              deleted.push(String(args.id));
              executed.set(hash, { content: [{ type: 'text', text: `deleted ${String(args.id)}` }] });
            }
            return rpcResult(message.id, executed.get(hash));
          }
          // Every deletion is approved per call, whichever claim of a class grant names the tool.
          if (lists(claims.r3_per_call, name) || lists(claims.r3_granted, name) || state.rechallengePerCall) {
            const reply = challenge(jkt, { operations: [{ tool: name }], parameters: args });
            proposals.push(String(args.id));
            return reply;
          }
          return challenge(jkt, { operations: [{ tool: name }] });
        }
        return rpcResult(message.id, { content: [{ type: 'text', text: 'unknown tool' }], isError: true });
      }
      default:
        return {
          status: 200,
          body: { jsonrpc: '2.0', id: message.id, error: { code: -32601, message: 'no' } },
        };
    }
  });

  /** R3 §Authorization Endpoint Extensions: a person token and `r3_operations` → a resource token. */
  world.rs.route('POST', '/authorize', async (request) => {
    const token = world.tokenOf(await world.verify(request, { requireBodyComponents: true }));
    if (token.kind !== 'person')
      return { status: 401, headers: requirementHeader({ requirement: 'person-token' }) };
    if (options.authorize === 'refuse') return { status: 400, body: { error: 'invalid_request' } };
    const body = request.json() as { r3_operations: { operations: Op[] }; scope?: string };
    if (options.authorize === 'scope-only') {
      return {
        status: 200,
        body: {
          resource_token: world.resourceToken(token.cnfKey!.thumbprint, {
            scope: body.scope ?? 'notes.read',
          }),
        },
      };
    }
    return {
      status: 200,
      body: {
        resource_token: world.resourceToken(token.cnfKey!.thumbprint, {
          ...publish({ operations: body.r3_operations.operations }),
          scope: undefined,
        }),
      },
    };
  });
  world.rs.route('GET', '/.well-known/aauth-resource.json', () => ({
    status: 200,
    body: {
      ...world.rsIssuer.metadata,
      access_mode: 'auth-token',
      authorization_endpoint: `${world.rs.url}/authorize`,
      r3_vocabularies: { [MCP_VOCABULARY]: `${world.rs.url}/mcp` },
    },
  }));

  /**
   * The PS (with the AS's policy): `delete_note` is per-call; a proposal is approved as a per-call
   * grant echoing its `r3_uri`/`r3_s256` with the one operation in `r3_granted` (R3 §Per-Call
   * Proposals, Flow 2).
   */
  const authTokens: Record<string, unknown>[] = [];
  world.ps.route('POST', '/token', async (request) => {
    const signer = world.tokenOf(await world.verify(request, { requireBodyComponents: true }));
    const rt = decodeJwtUnverified(request.json().resource_token as string).payload;
    const doc = documents.get(rt.r3_s256 as string);
    if (doc === undefined) return { status: 400, body: { error: 'invalid_resource_token' } };
    const grant = (ops: Op[]) => ({ vocabulary: MCP_VOCABULARY, operations: ops });
    const claims =
      doc.parameters !== undefined || state.grantAll
        ? { r3_granted: grant(doc.operations) }
        : {
            r3_granted: grant(doc.operations.filter((op) => op.tool !== 'delete_note')),
            ...(doc.operations.some((op) => op.tool === 'delete_note')
              ? { r3_per_call: grant([{ tool: 'delete_note' }]) }
              : {}),
          };
    const override = { r3_uri: rt.r3_uri, r3_s256: rt.r3_s256, scope: undefined, ...claims };
    authTokens.push(override);
    const auth_token = world.issueAuthToken(
      request.json().resource_token as string,
      signer.cnfKey!.jwk,
      override,
    );
    return { status: 200, body: { auth_token, expires_in: 3600 } };
  });

  return { documents, executed, deleted, proposals, calls, callBodies, authTokens, state, sub: PERSON_SUB };
}
