import { R3_VOCABULARY_MCP } from '@aauth-ref/core';
import { type RouteAAuthConfig, replyRequirement } from '@aauth-ref/fastify';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BODY_SIGNATURE_COMPONENTS, MCP_PATH } from '../metadata.js';
import type { McpGrant, McpService } from '../services/mcp-server.js';
import { toolCallsOfMcpBody } from '../services/mcp-tools.js';
import { requireR3Call } from '../services/r3-access.js';
import { type DemoOperation, demoOperationByTool } from '../services/r3-catalog.js';
import { type AppContext, presentedOf, replyChallenge } from './context.js';

/**
 * `POST /mcp` — the MCP server (Streamable HTTP, stateless, JSON responses) over the notes data,
 * advertised as the discovery endpoint of `urn:aauth:vocabulary:mcp` (R3 §Resource Metadata
 * Extensions). Every request is an AAuth-signed request; the challenge is decided here, before the
 * MCP dispatch, from the JSON-RPC body, so an agent answers it with its usual signed fetch
 * (docs/spec-decisions.md, *Resource server: MCP endpoint*):
 * - unsigned (or signed without an AAuth token) → `401 requirement=agent-token`;
 * - `tools/call` of a tool of this server → the REST API's decision for the tool's scope
 *   (`401 requirement=auth-token` with a resource token, `requirement=person-token`, step-up);
 * - anything else (initialize, tools/list, notifications) → served on any AAuth token for this
 *   resource (R3 §Access Mode Annotation: an auth token satisfies an agent-token operation).
 * Every challenge is a `401`, never a `202`: MCP's transport reads a `202` as "accepted, no body".
 * Tool calls are R3-governed (R3 §Resource Enforcement): an auth token with R3 claims is enforced
 * from `r3_granted`/`r3_per_call`, and `delete_note` is approved per call — its challenge carries a
 * resource token referencing a per-call proposal, and the retry must match the proposal's arguments.
 */

/** Every MCP POST carries a JSON-RPC body: bound to the signature and replay-checked. */
const MCP: RouteAAuthConfig = {
  allowUnsigned: true,
  stateChanging: true,
  additionalComponents: BODY_SIGNATURE_COMPONENTS,
};

const EMPTY_BATCH_ERROR = JSON.stringify({
  jsonrpc: '2.0',
  error: { code: -32600, message: 'Invalid Request: an empty batch' },
  id: null,
});

/** The request headers the MCP transport reads. */
const FORWARDED_HEADERS = [
  'accept',
  'content-type',
  'mcp-protocol-version',
  'mcp-session-id',
  'last-event-id',
];

function toWebRequest(request: FastifyRequest, url: string): Request {
  const headers = new Headers();
  for (const name of FORWARDED_HEADERS) {
    const value = request.headers[name];
    if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
  }
  return new Request(url, { method: 'POST', headers });
}

export function registerMcpRoutes(app: FastifyInstance, context: AppContext, mcp: McpService): void {
  const url = `${context.issuer}${MCP_PATH}`;

  app.post(MCP_PATH, { config: { aauth: MCP } }, async (request, reply) => {
    const presented = presentedOf(request);
    if (presented === null || presented.kind === 'other') {
      return replyRequirement(reply, { requirement: 'agent-token' });
    }
    if (Array.isArray(request.body) && request.body.length === 0) {
      // JSON-RPC 2.0 §6: an empty batch is an Invalid Request (the SDK would accept it with a 202).
      return reply
        .code(400)
        .header('cache-control', 'no-store')
        .type('application/json')
        .send(EMPTY_BATCH_ERROR);
    }
    const calls = toolCallsOfMcpBody(request.body);
    let grant: McpGrant | undefined;
    if (calls.length > 0) {
      const tools = [...new Set(calls.map((call) => call.tool))];
      const operations = tools.map((tool) => demoOperationByTool(tool)).filter((op) => op !== undefined);
      // A proposal describes one call: the per-call tool's arguments (the first such call).
      const perCall = calls.find((call) => demoOperationByTool(call.tool)?.perCall) ?? calls[0]!;
      const decision = await requireR3Call(context.access, context.r3, presented, {
        vocabulary: R3_VOCABULARY_MCP,
        operations: operations as DemoOperation[],
        parameters: perCall.arguments,
      });
      if (!decision.granted) return replyChallenge(reply, decision);
      const { auth, perCall: approved } = decision;
      grant = {
        person: decision.person,
        notebook: decision.notebook,
        tools,
        ...(approved === undefined
          ? {}
          : {
              perCall: {
                tool: approved.operation.tool,
                execute: async (run) =>
                  (
                    await context.r3.executeOnce(auth, approved.r3_s256, async (notes) => ({
                      status: 200,
                      body: await run(notes),
                    }))
                  ).body,
              },
            }),
      };
    } else if (presented.kind === 'person') {
      // A token for another resource, or from an untrusted issuer, is refused as on every route.
      await context.access.acceptPersonToken(presented);
    } else if (presented.kind === 'auth') {
      await context.access.acceptAuthToken(presented);
    }
    const response = await mcp.handle({
      request: toWebRequest(request, url),
      parsedBody: request.body,
      ...(grant === undefined ? {} : { grant }),
    });
    reply.code(response.status);
    response.headers.forEach((value, name) => {
      reply.header(name, value);
    });
    reply.header('cache-control', 'no-store');
    const body = await response.text();
    return body.length > 0 ? reply.send(body) : reply.send();
  });

  // Stateless server: no SSE stream to open and no session to end (MCP Streamable HTTP: 405).
  for (const method of ['GET', 'DELETE'] as const) {
    app.route({
      method,
      url: MCP_PATH,
      handler: async (_request, reply) => reply.code(405).header('allow', 'POST').send(),
    });
  }
}
