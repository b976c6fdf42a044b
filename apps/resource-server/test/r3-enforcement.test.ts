import { computeR3S256 } from '@aauth-ref/core';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  authToken,
  decodePayload,
  ISSUER,
  newAgent,
  personToken,
  resourceTokenOf,
  send,
  startTestApp,
  type TestAgent,
  type TestApp,
} from './support/app-harness.js';
import { pathOf } from './support/browser-flow.js';
import { callTool, fetchR3, MCP, OPENAPI, r3AuthToken } from './support/r3.js';

const BODY = ['content-type', 'content-digest'];

/**
 * R3 enforcement at the demo resource (draft-hardt-aauth-r3 §Resource Enforcement, §Grant
 * Enforcement) and per-call proposals for the destructive operation (§Per-Call Proposals), on the
 * MCP endpoint and the REST API.
 */

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.close();
});

function toolResult(response: LightMyRequestResponse) {
  expect(response.statusCode).toBe(200);
  const body = response.json();
  expect(body.error).toBeUndefined();
  return body.result as { structuredContent?: Record<string, unknown>; isError?: boolean };
}

/** An agent whose person token for `sub` this resource verified, with one note created. */
async function agentWithNote(sub: string, text = 'groceries: milk, eggs') {
  const agent = newAgent(t);
  const pt = personToken(t, agent.key, { sub });
  expect((await send(t, { path: '/api/me', key: agent.key, signatureKey: pt })).statusCode).toBe(200);
  const created = await send(t, {
    method: 'POST',
    path: '/api/notes',
    key: agent.key,
    signatureKey: authToken(t, agent.key, { sub }),
    body: { text },
    additionalComponents: BODY,
  });
  expect(created.statusCode).toBe(201);
  return { agent, pt, noteId: created.json().note.id as string };
}

/** The R3 claims of the resource token in a `401`/`202` requirement. */
function r3Of(response: LightMyRequestResponse): {
  r3_uri: string;
  r3_s256: string;
  claims: Record<string, unknown>;
} {
  const claims = decodePayload(resourceTokenOf({ headers: response.headers } as LightMyRequestResponse));
  expect(claims.r3_uri).toBe(`${ISSUER}/r3/${claims.r3_s256}`);
  return { r3_uri: claims.r3_uri as string, r3_s256: claims.r3_s256 as string, claims };
}

async function documentOf(uri: string) {
  const response = await fetchR3(t, t.ps, uri);
  expect(response.statusCode).toBe(200);
  return response.json();
}

function noteCount(sub: string) {
  return t.prisma.note.count({ where: { personIss: t.ps.issuer, personSub: sub } });
}

describe('§Grant Enforcement on the MCP endpoint', () => {
  it('a grant for one tool does not authorize another: step-up with a document naming both', async () => {
    const { agent } = await agentWithNote('grant-mcp');
    const token = r3AuthToken(t, agent.key, {
      sub: 'grant-mcp',
      r3_uri: `${ISSUER}/r3/${computeR3S256('class')}`,
      r3_s256: computeR3S256('class'),
      r3_granted: { vocabulary: MCP, operations: [{ tool: 'list_notes' }] },
    });
    const listed = toolResult(await callTool(t, agent, token, 'list_notes'));
    expect(listed.structuredContent).toMatchObject({ notes: [{ text: 'groceries: milk, eggs' }] });

    const before = await noteCount('grant-mcp');
    const refused = await callTool(t, agent, token, 'create_note', { text: 'not allowed' });
    expect(refused.statusCode).toBe(401);
    expect(refused.headers['signature-error']).toBeUndefined();
    const { r3_uri, claims } = r3Of(refused);
    expect(claims).toMatchObject({ sub: 'grant-mcp', agent_jkt: agent.key.thumbprint });
    expect(await documentOf(r3_uri)).toMatchObject({
      vocabulary: MCP,
      operations: [{ tool: 'list_notes' }, { tool: 'create_note' }],
    });
    expect(await noteCount('grant-mcp')).toBe(before);
  });

  it('a grant in the OpenAPI vocabulary authorizes no MCP tool (and the other way round)', async () => {
    const { agent } = await agentWithNote('grant-vocab');
    const openapiToken = r3AuthToken(t, agent.key, {
      sub: 'grant-vocab',
      r3_uri: `${ISSUER}/r3/${computeR3S256('x')}`,
      r3_s256: computeR3S256('x'),
      r3_granted: { vocabulary: OPENAPI, operations: [{ operationId: 'listNotes' }] },
    });
    expect(
      (await send(t, { path: '/api/notes', key: agent.key, signatureKey: openapiToken })).statusCode,
    ).toBe(200);
    expect((await callTool(t, agent, openapiToken, 'list_notes')).statusCode).toBe(401);
    const mcpToken = r3AuthToken(t, agent.key, {
      sub: 'grant-vocab',
      r3_uri: `${ISSUER}/r3/${computeR3S256('y')}`,
      r3_s256: computeR3S256('y'),
      r3_granted: { vocabulary: MCP, operations: [{ tool: 'list_notes' }] },
    });
    expect((await send(t, { path: '/api/notes', key: agent.key, signatureKey: mcpToken })).statusCode).toBe(
      401,
    );
  });

  it('an operation in r3_per_call is challenged with a proposal for that call (§Resource Enforcement step 2)', async () => {
    const { agent } = await agentWithNote('grant-percall');
    const token = r3AuthToken(t, agent.key, {
      sub: 'grant-percall',
      r3_uri: `${ISSUER}/r3/${computeR3S256('z')}`,
      r3_s256: computeR3S256('z'),
      r3_granted: { vocabulary: MCP, operations: [] },
      r3_per_call: { vocabulary: MCP, operations: [{ tool: 'create_note' }] },
    });
    const response = await callTool(t, agent, token, 'create_note', { text: 'Dinner Sunday?' });
    expect(response.statusCode).toBe(401);
    expect(await documentOf(r3Of(response).r3_uri)).toMatchObject({
      operations: [{ tool: 'create_note' }],
      parameters: { text: 'Dinner Sunday?' },
      display: {
        summary: 'Add a note to your personal notebook',
        detail: expect.stringContaining('## Action'),
      },
    });
  });

  it('§Large and Sensitive Payloads: a long text is proposed as a digest; the retry must present the same bytes', async () => {
    const { agent } = await agentWithNote('grant-digest');
    const perCallGrant = {
      sub: 'grant-digest',
      r3_uri: `${ISSUER}/r3/${computeR3S256('d')}`,
      r3_s256: computeR3S256('d'),
      r3_granted: { vocabulary: MCP, operations: [] },
      r3_per_call: { vocabulary: MCP, operations: [{ tool: 'create_note' }] },
    };
    const text = `Minutes of the meeting. ${'Everyone agreed. '.repeat(30)}`;
    const challenged = await callTool(t, agent, r3AuthToken(t, agent.key, perCallGrant), 'create_note', {
      text,
    });
    expect(challenged.statusCode).toBe(401);
    const { r3_uri, r3_s256 } = r3Of(challenged);
    const proposal = await documentOf(r3_uri);
    expect(proposal.parameters.text).toEqual({
      s256: computeR3S256(text),
      excerpt: expect.stringMatching(/^Minutes of the meeting\./),
      media_type: 'text/plain',
    });
    const perCall = r3AuthToken(t, agent.key, {
      sub: 'grant-digest',
      r3_uri,
      r3_s256,
      r3_granted: { vocabulary: MCP, operations: [{ tool: 'create_note' }] },
    });
    const before = await noteCount('grant-digest');
    const altered = await callTool(t, agent, perCall, 'create_note', { text: `${text} ` });
    expect(altered.statusCode).toBe(403);
    expect(await noteCount('grant-digest')).toBe(before);
    const ran = toolResult(await callTool(t, agent, perCall, 'create_note', { text }));
    expect(ran.structuredContent).toMatchObject({ note: { text } });
    expect(await noteCount('grant-digest')).toBe(before + 1);
  });

  it('challenges to agent and person tokens carry an R3 document for the tool (§Resource Token Extensions)', async () => {
    const agent = newAgent(t);
    const response = await callTool(t, agent, personToken(t, agent.key, { sub: 'grant-pt' }), 'list_notes');
    expect(response.statusCode).toBe(401);
    const { r3_uri, claims } = r3Of(response);
    expect(claims.scope).toBe('notes.read');
    expect(await documentOf(r3_uri)).toMatchObject({ vocabulary: MCP, operations: [{ tool: 'list_notes' }] });
  });
});

describe('§Per-Call Proposals: delete_note on the MCP endpoint (401 delivery)', () => {
  it('proposal → per-call auth token → runs once; a repeat gets the retained result', async () => {
    const { agent, pt, noteId } = await agentWithNote('percall-mcp', 'the tax notes for 2025');
    const challenged = await callTool(t, agent, pt, 'delete_note', { id: noteId });
    // Every MCP challenge is a 401 (issue 11; the transport reads a 202 as "no body").
    expect(challenged.statusCode).toBe(401);
    const { r3_uri, r3_s256 } = r3Of(challenged);
    const proposal = await documentOf(r3_uri);
    expect(proposal).toMatchObject({
      vocabulary: MCP,
      operations: [{ tool: 'delete_note' }],
      parameters: { id: noteId },
      display: { summary: 'Delete one note from your personal notebook' },
    });
    // The resource says what this call will do: the note's own text, and that it cannot be undone.
    expect(proposal.display.detail).toContain('## Action');
    expect(proposal.display.detail).toContain('> the tax notes for 2025');
    expect(proposal.display.detail).toContain('## Irreversible');
    expect(await noteCount('percall-mcp')).toBe(1);

    const perCall = r3AuthToken(t, agent.key, {
      sub: 'percall-mcp',
      r3_uri,
      r3_s256,
      r3_granted: { vocabulary: MCP, operations: [{ tool: 'delete_note' }] },
    });
    const ran = toolResult(await callTool(t, agent, perCall, 'delete_note', { id: noteId }));
    expect(ran.structuredContent).toEqual({ deleted: noteId });
    expect(await noteCount('percall-mcp')).toBe(0);

    // Flow step 4: the same per-call auth token again → the retained result, not a second run (which
    // would have answered "no such note").
    const repeat = toolResult(await callTool(t, agent, perCall, 'delete_note', { id: noteId }));
    expect(repeat).toEqual(ran);
  });

  it('Flow step 3: a retry whose parameters differ from the proposal → 403, nothing runs', async () => {
    const { agent, pt, noteId } = await agentWithNote('percall-mismatch');
    const other = await agentWithNote('percall-mismatch');
    const { r3_uri, r3_s256 } = r3Of(await callTool(t, agent, pt, 'delete_note', { id: noteId }));
    const perCall = r3AuthToken(t, agent.key, {
      sub: 'percall-mismatch',
      r3_uri,
      r3_s256,
      r3_granted: { vocabulary: MCP, operations: [{ tool: 'delete_note' }] },
    });
    const refused = await callTool(t, agent, perCall, 'delete_note', { id: other.noteId });
    expect(refused.statusCode).toBe(403);
    expect(refused.json()).toMatchObject({ error: 'forbidden' });
    const extra = await callTool(t, agent, perCall, 'delete_note', { id: noteId, force: true });
    expect(extra.statusCode).toBe(403);
    // The proposal described the personal notebook: a per-call token for another account does not fit it.
    const otherAccount = r3AuthToken(t, agent.key, {
      sub: 'percall-mismatch',
      account: 'work',
      r3_uri,
      r3_s256,
      r3_granted: { vocabulary: MCP, operations: [{ tool: 'delete_note' }] },
    });
    expect((await callTool(t, agent, otherAccount, 'delete_note', { id: noteId })).statusCode).toBe(403);
    expect(await noteCount('percall-mismatch')).toBe(2);
  });

  it('a second per-call auth token for a consumed proposal → 403 (runs at most once)', async () => {
    const { agent, pt, noteId } = await agentWithNote('percall-twice');
    const { r3_uri, r3_s256 } = r3Of(await callTool(t, agent, pt, 'delete_note', { id: noteId }));
    const grant = { vocabulary: MCP, operations: [{ tool: 'delete_note' }] };
    const first = r3AuthToken(t, agent.key, { sub: 'percall-twice', r3_uri, r3_s256, r3_granted: grant });
    toolResult(await callTool(t, agent, first, 'delete_note', { id: noteId }));
    const second = r3AuthToken(t, agent.key, { sub: 'percall-twice', r3_uri, r3_s256, r3_granted: grant });
    const refused = await callTool(t, agent, second, 'delete_note', { id: noteId });
    expect(refused.statusCode).toBe(403);
  });

  it('delete_note granted on a class document is still challenged with a proposal', async () => {
    const { agent, noteId } = await agentWithNote('percall-class');
    const token = r3AuthToken(t, agent.key, {
      sub: 'percall-class',
      r3_uri: `${ISSUER}/r3/${computeR3S256('class doc')}`,
      r3_s256: computeR3S256('class doc'),
      r3_granted: { vocabulary: MCP, operations: [{ tool: 'delete_note' }, { tool: 'list_notes' }] },
    });
    const response = await callTool(t, agent, token, 'delete_note', { id: noteId });
    expect(response.statusCode).toBe(401);
    expect(await documentOf(r3Of(response).r3_uri)).toMatchObject({ parameters: { id: noteId } });
    expect(await noteCount('percall-class')).toBe(1);
  });

  it('a per-call token naming a hash that is no proposal here (tampered r3_s256) is challenged, not served', async () => {
    const { agent, pt, noteId } = await agentWithNote('percall-tampered');
    const { r3_s256 } = r3Of(await callTool(t, agent, pt, 'delete_note', { id: noteId }));
    const forged = computeR3S256(`${r3_s256}x`);
    const token = r3AuthToken(t, agent.key, {
      sub: 'percall-tampered',
      r3_uri: `${ISSUER}/r3/${forged}`,
      r3_s256: forged,
      r3_granted: { vocabulary: MCP, operations: [{ tool: 'delete_note' }] },
    });
    const response = await callTool(t, agent, token, 'delete_note', { id: noteId });
    expect(response.statusCode).toBe(401);
    expect(await noteCount('percall-tampered')).toBe(1);
  });
});

describe('§Per-Call Proposals: DELETE /api/notes/:id (REST)', () => {
  function remove(agent: TestAgent, id: string, signatureKey: string) {
    return send(t, { method: 'DELETE', path: `/api/notes/${id}`, key: agent.key, signatureKey });
  }

  it('202 deferred delivery: the held call references a proposal; the per-call auth token completes it', async () => {
    const { agent, pt, noteId } = await agentWithNote('percall-rest-202');
    const held = await remove(agent, noteId, pt);
    expect(held.statusCode).toBe(202);
    const { r3_uri, r3_s256 } = r3Of(held);
    expect(await documentOf(r3_uri)).toMatchObject({
      vocabulary: OPENAPI,
      operations: [{ operationId: 'deleteNote' }],
      parameters: { id: noteId },
    });
    const pending = pathOf(held.headers.location);
    // An R3 token for something else does not complete it.
    const wrong = r3AuthToken(t, agent.key, {
      sub: 'percall-rest-202',
      r3_uri: `${ISSUER}/r3/${computeR3S256('other')}`,
      r3_s256: computeR3S256('other'),
      r3_granted: { vocabulary: OPENAPI, operations: [{ operationId: 'deleteNote' }] },
    });
    t.clock.advance(3000);
    expect((await send(t, { path: pending, key: agent.key, signatureKey: wrong })).statusCode).toBe(202);
    t.clock.advance(3000);
    const perCall = r3AuthToken(t, agent.key, {
      sub: 'percall-rest-202',
      r3_uri,
      r3_s256,
      r3_granted: { vocabulary: OPENAPI, operations: [{ operationId: 'deleteNote' }] },
    });
    const ran = await send(t, { path: pending, key: agent.key, signatureKey: perCall });
    expect(ran.statusCode).toBe(200);
    expect(ran.json()).toEqual({ deleted: noteId });
    // The proposal is consumed: retrying the call itself with the same token answers the same result.
    t.clock.advance(1000);
    const retry = await remove(agent, noteId, perCall);
    expect(retry.statusCode).toBe(200);
    expect(retry.json()).toEqual({ deleted: noteId });
  });

  it('401 delivery: a retry with the per-call auth token runs once, a repeat is answered from the stored result, other parameters → 403', async () => {
    const { agent, pt, noteId } = await agentWithNote('percall-rest-401');
    const other = await agentWithNote('percall-rest-401');
    const { r3_uri, r3_s256 } = r3Of(await remove(agent, noteId, pt));
    const perCall = r3AuthToken(t, agent.key, {
      sub: 'percall-rest-401',
      r3_uri,
      r3_s256,
      r3_granted: { vocabulary: OPENAPI, operations: [{ operationId: 'deleteNote' }] },
    });
    const mismatch = await remove(agent, other.noteId, perCall);
    expect(mismatch.statusCode).toBe(403);
    expect(mismatch.json()).toMatchObject({ error: 'forbidden' });
    const ran = await remove(agent, noteId, perCall);
    expect(ran.statusCode).toBe(200);
    expect(ran.json()).toEqual({ deleted: noteId });
    t.clock.advance(1000);
    const repeat = await remove(agent, noteId, perCall);
    expect(repeat.statusCode).toBe(200);
    expect(repeat.json()).toEqual({ deleted: noteId });
    expect(await noteCount('percall-rest-401')).toBe(1);
  });
});
