import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  authToken,
  decodePayload,
  newAgent,
  personToken,
  send,
  startTestApp,
  type TestAgent,
  type TestApp,
} from './support/app-harness.js';
import { pathOf } from './support/browser-flow.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ RESOURCE_TOKEN_TTL_SECONDS: '60' });
});
afterAll(async () => {
  await t?.close();
});

const BODY = ['content-type', 'content-digest'];

async function agentWithNote(sub: string): Promise<{ agent: TestAgent; noteId: string; pt: string }> {
  const agent = newAgent(t);
  const pt = personToken(t, agent.key, { sub });
  // The PS becomes trusted for auth tokens once one of its person tokens was verified here.
  expect((await send(t, { path: '/api/me', key: agent.key, signatureKey: pt })).statusCode).toBe(200);
  const created = await send(t, {
    method: 'POST',
    path: '/api/notes',
    key: agent.key,
    signatureKey: authToken(t, agent.key, { sub }),
    body: { text: 'to delete' },
    additionalComponents: BODY,
  });
  expect(created.statusCode).toBe(201);
  return { agent, noteId: created.json().note.id, pt };
}

function remove(agent: TestAgent, id: string, signatureKey: string) {
  return send(t, { method: 'DELETE', path: `/api/notes/${id}`, key: agent.key, signatureKey });
}

function resourceTokenIn(header: unknown): string {
  const match = /^requirement=auth-token;resource-token="([^"]+)"$/.exec(String(header ?? ''));
  if (!match) throw new Error(`not an auth-token requirement: ${String(header)}`);
  return match[1]!;
}

describe('deferred auth-token delivery (§Deferred Delivery)', () => {
  it('holds the call (202), runs it once on the first sufficient auth token, replays the result across a restart', async () => {
    const { agent, noteId, pt } = await agentWithNote('deferred');
    const held = await remove(agent, noteId, pt);
    expect(held.statusCode).toBe(202);
    expect(held.headers['cache-control']).toBe('no-store');
    expect(held.headers['retry-after']).toBe('2');
    expect(held.json()).toEqual({ status: 'pending' });
    const resourceToken = decodePayload(resourceTokenIn(held.headers['aauth-requirement']));
    expect(resourceToken).toMatchObject({
      sub: 'deferred',
      scope: 'notes.write',
      agent_jkt: expect.any(String),
    });
    const pending = pathOf(held.headers.location);
    expect(pending).toMatch(/^\/pending\/[A-Za-z0-9_-]{43}$/);
    // Held in the database: nothing ran yet.
    const row = await t.prisma.pendingRequest.findUniqueOrThrow({ where: { id: pending.slice(9) } });
    expect(row.invocation).toMatchObject({ method: 'DELETE', path: `/api/notes/${noteId}`, body: null });
    expect(await t.prisma.note.count({ where: { id: noteId } })).toBe(1);

    // Another key polling → 404.
    t.clock.advance(3_000);
    const other = newAgent(t);
    expect(
      (await send(t, { path: pending, key: other.key, signatureKey: other.agentToken })).statusCode,
    ).toBe(404);

    await t.restart();

    // An auth token with too little scope keeps it pending.
    const weak = authToken(t, agent.key, { sub: 'deferred', scope: 'notes.read' });
    const stillHeld = await send(t, { path: pending, key: agent.key, signatureKey: weak });
    expect(stillHeld.statusCode).toBe(202);
    expect(resourceTokenIn(stillHeld.headers['aauth-requirement'])).toBeTruthy();
    expect(await t.prisma.note.count({ where: { id: noteId } })).toBe(1);

    const token = authToken(t, agent.key, { sub: 'deferred', scope: 'notes.write' });
    const ran = await send(t, { path: pending, key: agent.key, signatureKey: token });
    expect(ran.statusCode).toBe(200);
    expect(ran.json()).toEqual({ deleted: noteId });
    expect(await t.prisma.note.count({ where: { id: noteId } })).toBe(0);

    await t.restart();
    // Recreate a note with the same id? Impossible; instead prove no second run by the stored result.
    const replay = await send(t, { path: pending, key: agent.key, signatureKey: token });
    expect(replay.statusCode).toBe(200);
    expect(replay.json()).toEqual({ deleted: noteId });

    // Any other credential after the terminal answer → 410.
    const otherToken = authToken(t, agent.key, { sub: 'deferred', scope: 'notes.write' });
    expect((await send(t, { path: pending, key: agent.key, signatureKey: otherToken })).statusCode).toBe(410);
    expect(
      (await send(t, { path: pending, key: agent.key, signatureKey: agent.agentToken })).statusCode,
    ).toBe(410);
    // Until the auth token's exp only: past it the token itself no longer verifies.
    t.clock.advance(3_601_000);
    const late = await send(t, { path: pending, key: agent.key, signatureKey: token });
    expect(late.statusCode).toBe(401);
    expect(String(late.headers['signature-error'])).toContain('expired_jwt');
  });

  it('offers a fresh resource token on a later poll once the first expired', async () => {
    const { agent, noteId, pt } = await agentWithNote('fresh');
    const held = await remove(agent, noteId, pt);
    const first = resourceTokenIn(held.headers['aauth-requirement']);
    const pending = pathOf(held.headers.location);
    t.clock.advance(3_000);
    const same = await send(t, { path: pending, key: agent.key, signatureKey: agent.agentToken });
    expect(resourceTokenIn(same.headers['aauth-requirement'])).toBe(first);
    t.clock.advance(61_000);
    const later = await send(t, { path: pending, key: agent.key, signatureKey: agent.agentToken });
    expect(later.statusCode).toBe(202);
    const fresh = resourceTokenIn(later.headers['aauth-requirement']);
    expect(fresh).not.toBe(first);
    expect((decodePayload(fresh).exp as number) > (decodePayload(first).exp as number)).toBe(true);
  });

  it('runs at once with a sufficient auth token; an agent token alone without a person token → 401 person-token', async () => {
    const { agent, noteId } = await agentWithNote('direct');
    const token = authToken(t, agent.key, { sub: 'direct', scope: 'notes.write' });
    const done = await remove(agent, noteId, token);
    expect(done.statusCode).toBe(200);
    expect(done.json()).toEqual({ deleted: noteId });
    const stranger = newAgent(t);
    const refused = await remove(stranger, noteId, stranger.agentToken);
    expect(refused.statusCode).toBe(401);
    expect(refused.headers['aauth-requirement']).toBe('requirement=person-token');
  });

  it('an auth token for another person at the pending URL is refused (403) and nothing runs', async () => {
    const { agent, noteId, pt } = await agentWithNote('owner');
    const held = await remove(agent, noteId, pt);
    const pending = pathOf(held.headers.location);
    const wrong = authToken(t, agent.key, { sub: 'someone-else', scope: 'notes.write' });
    const refused = await send(t, { path: pending, key: agent.key, signatureKey: wrong });
    expect(refused.statusCode).toBe(403);
    expect(await t.prisma.note.count({ where: { id: noteId } })).toBe(1);
  });
});
