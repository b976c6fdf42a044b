import { createRetentionSweeper, type RetentionSweeper } from '@aauth-ref/fastify';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createR3RetentionTasks } from '../src/stores/r3-retention.js';
import {
  authToken,
  decodePayload,
  newAgent,
  personToken,
  resourceTokenOf,
  send,
  startTestApp,
  type TestApp,
} from './support/app-harness.js';
import { callTool, fetchR3, MCP, r3AuthToken } from './support/r3.js';

const BODY = ['content-type', 'content-digest'];

/**
 * The R3 tables stay bounded (docs/spec-decisions.md, "R3 retention"): a document is kept while a
 * resource token naming it can be presented, plus `R3_RETENTION_SECONDS`; a per-call proposal and its
 * execution record at least until the per-call auth token's `exp` (R3 §Per-Call Proposals, Flow step
 * 4). The resource's retention sweeper deletes them (`stores/r3-retention.ts`); here it is run by hand.
 */

const RETENTION_S = 3600;
const RESOURCE_TOKEN_S = 300;
let t: TestApp;
let sweeper: RetentionSweeper;
beforeAll(async () => {
  // The app's own sweeper is off: the test sweeps at the instants it chooses.
  t = await startTestApp({
    RETENTION_INTERVAL_SECONDS: '0',
    R3_RETENTION_SECONDS: String(RETENTION_S),
    RESOURCE_TOKEN_TTL_SECONDS: String(RESOURCE_TOKEN_S),
  });
  sweeper = createRetentionSweeper({
    tasks: createR3RetentionTasks(t.database),
    clock: t.clock,
    logger: { debug() {}, error() {} },
    intervalMs: 0,
  });
});
afterAll(async () => {
  await t?.close();
});

function r3Of(response: LightMyRequestResponse): { r3_uri: string; r3_s256: string } {
  expect(response.statusCode).toBe(401);
  const claims = decodePayload(resourceTokenOf(response));
  return { r3_uri: claims.r3_uri as string, r3_s256: claims.r3_s256 as string };
}

/** A fresh agent whose person token this resource verified (tokens expire as the clock moves). */
async function freshAgent(sub: string) {
  const agent = newAgent(t);
  const pt = personToken(t, agent.key, { sub });
  expect((await send(t, { path: '/api/me', key: agent.key, signatureKey: pt })).statusCode).toBe(200);
  return { agent, pt };
}

/** A challenge for `GET /api/notes`: its resource token names the class document of `listNotes`. */
async function classChallenge(sub: string) {
  const { agent, pt } = await freshAgent(sub);
  return r3Of(await send(t, { path: '/api/notes', key: agent.key, signatureKey: pt }));
}

/** One sweep of the R3 tasks at the clock's time; both tasks must succeed. */
async function sweep() {
  const report = await sweeper.sweep();
  expect(report.failed).toEqual([]);
  return report.deleted;
}

async function rowsOf(s256: string) {
  const [documents, readers, executions] = await Promise.all([
    t.prisma.r3Document.count({ where: { s256 } }),
    t.prisma.r3DocumentReader.count({ where: { s256 } }),
    t.prisma.r3PerCallExecution.count({ where: { r3S256: s256 } }),
  ]);
  return { documents, readers, executions };
}

describe('R3 documents: bounded retention', () => {
  it('a class document is kept until its last resource token expires plus the retention, then purged', async () => {
    const first = await classChallenge('retain-class');
    const row = await t.prisma.r3Document.findUniqueOrThrow({ where: { s256: first.r3_s256 } });
    const issuedAt = t.clock.now();
    expect(row.retainUntil.getTime()).toBe(
      (Math.floor(issuedAt / 1000) + RESOURCE_TOKEN_S + RETENTION_S) * 1000,
    );
    expect(await rowsOf(first.r3_s256)).toMatchObject({ documents: 1, readers: 1 });

    // In use: a purge just before the end of retention keeps it servable to its reader.
    t.clock.set(row.retainUntil.getTime() - 1000);
    expect(await sweep()).toEqual({ r3_document: 0, r3_per_call_execution: 0 });
    expect((await fetchR3(t, t.ps, first.r3_uri)).statusCode).toBe(200);

    // Past retention: the document and its readers go.
    t.clock.set(row.retainUntil.getTime());
    await sweep();
    expect(await rowsOf(first.r3_s256)).toEqual({ documents: 0, readers: 0, executions: 0 });
    expect((await fetchR3(t, t.ps, first.r3_uri)).statusCode).toBe(404);

    // §Content Addressing: rebuilt from the same operations, the same bytes and the same hash.
    const again = await classChallenge('retain-class');
    expect(again.r3_s256).toBe(first.r3_s256);
    expect((await fetchR3(t, t.ps, again.r3_uri)).statusCode).toBe(200);
  });

  it('a new resource token naming a stored document extends its retention (never shortens it)', async () => {
    const first = await classChallenge('retain-extend');
    const before = await t.prisma.r3Document.findUniqueOrThrow({ where: { s256: first.r3_s256 } });
    t.clock.advance(10 * 60_000);
    const second = await classChallenge('retain-extend');
    expect(second.r3_s256).toBe(first.r3_s256);
    const after = await t.prisma.r3Document.findUniqueOrThrow({ where: { s256: first.r3_s256 } });
    expect(after.retainUntil.getTime()).toBe(before.retainUntil.getTime() + 10 * 60_000);
  });
});

describe('R3 per-call proposals: retention of the proposal and its execution (§Per-Call Proposals step 4)', () => {
  it('kept until the per-call auth token expires even past the resource token retention; then both go', async () => {
    const sub = 'retain-percall';
    const { agent, pt } = await freshAgent(sub);
    const created = await send(t, {
      method: 'POST',
      path: '/api/notes',
      key: agent.key,
      signatureKey: authToken(t, agent.key, { sub }),
      body: { text: 'old receipts' },
      additionalComponents: BODY,
    });
    const noteId = created.json().note.id as string;
    const { r3_s256, r3_uri } = r3Of(await callTool(t, agent, pt, 'delete_note', { id: noteId }));
    const proposed = await t.prisma.r3Document.findUniqueOrThrow({ where: { s256: r3_s256 } });

    // A deferred approval: the per-call auth token is issued 50 minutes later, valid for an hour.
    t.clock.advance(50 * 60_000);
    const perCall = r3AuthToken(t, agent.key, {
      sub,
      r3_uri,
      r3_s256,
      r3_granted: { vocabulary: MCP, operations: [{ tool: 'delete_note' }] },
      lifetimeSeconds: 3600,
    });
    const perCallExp = t.clock.now() + 3600_000;
    const ran = await callTool(t, agent, perCall, 'delete_note', { id: noteId });
    expect(ran.json().result.structuredContent).toEqual({ deleted: noteId });
    const extended = await t.prisma.r3Document.findUniqueOrThrow({ where: { s256: r3_s256 } });
    expect(extended.retainUntil.getTime()).toBe(perCallExp);
    expect(extended.retainUntil.getTime()).toBeGreaterThan(proposed.retainUntil.getTime());

    // Past the proposal's own retention but before the per-call token's exp: nothing of it is purged,
    // and a repeat is still answered from the retained result.
    t.clock.set(proposed.retainUntil.getTime() + 1000);
    await sweep();
    expect(await rowsOf(r3_s256)).toEqual({ documents: 1, readers: 1, executions: 1 });
    const repeat = await callTool(t, agent, perCall, 'delete_note', { id: noteId });
    expect(repeat.json().result).toEqual(ran.json().result);

    // After the per-call token's exp: proposal, readers and execution record are purged together.
    t.clock.set(perCallExp);
    await sweep();
    expect(await rowsOf(r3_s256)).toEqual({ documents: 0, readers: 0, executions: 0 });
  });

  it('an unused proposal goes with its retention; a late per-call token then runs nothing', async () => {
    const sub = 'retain-unused';
    const { agent, pt } = await freshAgent(sub);
    const created = await send(t, {
      method: 'POST',
      path: '/api/notes',
      key: agent.key,
      signatureKey: authToken(t, agent.key, { sub }),
      body: { text: 'keep me' },
      additionalComponents: BODY,
    });
    const noteId = created.json().note.id as string;
    const { r3_s256, r3_uri } = r3Of(await callTool(t, agent, pt, 'delete_note', { id: noteId }));
    const grant = { vocabulary: MCP, operations: [{ tool: 'delete_note' }] };
    // The resource has read the proposal once (a mismatching call), so this instance has it cached.
    const early = r3AuthToken(t, agent.key, { sub, r3_uri, r3_s256, r3_granted: grant });
    expect((await callTool(t, agent, early, 'delete_note', { id: 'another' })).statusCode).toBe(403);

    const proposed = await t.prisma.r3Document.findUniqueOrThrow({ where: { s256: r3_s256 } });
    t.clock.set(proposed.retainUntil.getTime());
    await sweep();
    expect(await rowsOf(r3_s256)).toEqual({ documents: 0, readers: 0, executions: 0 });

    // An issuer approving after the retention: the proposal is gone, so the call is not run.
    const late = r3AuthToken(t, agent.key, { sub, r3_uri, r3_s256, r3_granted: grant });
    const refused = await callTool(t, agent, late, 'delete_note', { id: noteId });
    expect(refused.statusCode).toBe(403);
    expect(refused.json()).toMatchObject({ error: 'forbidden' });
    expect(await t.prisma.note.count({ where: { id: noteId } })).toBe(1);
    expect(await rowsOf(r3_s256)).toEqual({ documents: 0, readers: 0, executions: 0 });
  });
});
