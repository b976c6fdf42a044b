import { randomUUID } from 'node:crypto';
import { createRetentionSweeper, type RetentionSweeper } from '@aauth-ref/fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createResourceRetentionTasks, REVOCATION_SKEW_SECONDS } from '../src/stores/retention.js';
import { authToken, newAgent, personToken, send, startTestApp, type TestApp } from './support/app-harness.js';
import { pathOf } from './support/browser-flow.js';

const PENDING_RETENTION_SECONDS = 60;
const TOKEN_RECORD_RETENTION_SECONDS = 600;

let t: TestApp;
let sweeper: RetentionSweeper;
beforeAll(async () => {
  // The app's own sweeper is off: the test sweeps by hand at the instants it chooses.
  t = await startTestApp({
    RETENTION_INTERVAL_SECONDS: '0',
    PENDING_RETENTION_SECONDS: String(PENDING_RETENTION_SECONDS),
    TOKEN_RECORD_RETENTION_SECONDS: String(TOKEN_RECORD_RETENTION_SECONDS),
  });
  sweeper = createRetentionSweeper({
    tasks: createResourceRetentionTasks(t.database, {
      pendingRetentionSeconds: t.config.PENDING_RETENTION_SECONDS,
      tokenRecordRetentionSeconds: t.config.TOKEN_RECORD_RETENTION_SECONDS,
    }),
    clock: t.clock,
    logger: { debug() {}, error() {} },
    intervalMs: 0,
    batchSize: 2,
  });
});
afterAll(async () => {
  await t?.close();
});

const BODY = ['content-type', 'content-digest'];
const at = (offsetSeconds: number) => new Date(t.clock.now() + offsetSeconds * 1000);

describe('retention of the resource tables (docs/reliability.md, Retention)', () => {
  it('§Deferred Delivery: keeps a completed held invocation with its result until the auth token exp, answers late polls 410, then deletes it', async () => {
    const agent = newAgent(t);
    const pt = personToken(t, agent.key, { sub: 'retained' });
    expect((await send(t, { path: '/api/me', key: agent.key, signatureKey: pt })).statusCode).toBe(200);
    const created = await send(t, {
      method: 'POST',
      path: '/api/notes',
      key: agent.key,
      signatureKey: authToken(t, agent.key, { sub: 'retained' }),
      body: { text: 'x' },
      additionalComponents: BODY,
    });
    expect(created.statusCode).toBe(201);
    const noteId = created.json().note.id as string;
    const held = await send(t, {
      method: 'DELETE',
      path: `/api/notes/${noteId}`,
      key: agent.key,
      signatureKey: pt,
    });
    expect(held.statusCode).toBe(202);
    const pending = pathOf(held.headers.location);
    const id = pending.slice('/pending/'.length);

    t.clock.advance(3_000);
    const token = authToken(t, agent.key, { sub: 'retained', scope: 'notes.write' });
    const ran = await send(t, { path: pending, key: agent.key, signatureKey: token });
    expect(ran.statusCode).toBe(200);
    const row = await t.prisma.pendingRequest.findUniqueOrThrow({ where: { id } });
    expect(row.resultUntil).not.toBeNull();
    const resultUntil = row.resultUntil!.getTime();
    expect(resultUntil).toBeGreaterThan(row.expiresAt.getTime() + PENDING_RETENTION_SECONDS * 1000);

    // Past the pending expiry and its retention, but before the auth token's exp: kept, result replayed.
    t.clock.set(row.expiresAt.getTime() + (PENDING_RETENTION_SECONDS + 1) * 1000);
    await sweeper.sweep();
    expect(await t.prisma.pendingRequest.count({ where: { id } })).toBe(1);
    const replay = await send(t, { path: pending, key: agent.key, signatureKey: token });
    expect(replay.statusCode).toBe(200);
    expect(replay.json()).toEqual({ deleted: noteId });

    // Past the auth token's exp but within the retention: a late poll gets 410, not 404.
    t.clock.set(resultUntil + (PENDING_RETENTION_SECONDS - 1) * 1000);
    await sweeper.sweep();
    const fresh = newAgent(t, { key: agent.key });
    const late = await send(t, { path: pending, key: agent.key, signatureKey: fresh.agentToken });
    expect(late.statusCode).toBe(410);
    expect(late.json().error).toBe('gone');

    t.clock.set(resultUntil + (PENDING_RETENTION_SECONDS + 1) * 1000);
    expect((await sweeper.sweep()).deleted.pending_request).toBeGreaterThanOrEqual(1);
    expect(await t.prisma.pendingRequest.count({ where: { id } })).toBe(0);
    const gone = await send(t, {
      path: pending,
      key: agent.key,
      signatureKey: newAgent(t, { key: agent.key }).agentToken,
    });
    expect(gone.statusCode).toBe(404);
  });

  it('keeps an expired, never-polled pending row for its retention so a late poll is answered expired, then 410', async () => {
    const agent = newAgent(t);
    const pt = personToken(t, agent.key, { sub: 'late-poller' });
    const created = await send(t, {
      method: 'POST',
      path: '/api/notes',
      key: agent.key,
      signatureKey: authToken(t, agent.key, { sub: 'late-poller' }),
      body: { text: 'y' },
      additionalComponents: BODY,
    });
    expect(created.statusCode).toBe(201);
    const held = await send(t, {
      method: 'DELETE',
      path: `/api/notes/${created.json().note.id}`,
      key: agent.key,
      signatureKey: pt,
    });
    expect(held.statusCode).toBe(202);
    const pending = pathOf(held.headers.location);
    const id = pending.slice('/pending/'.length);
    const { expiresAt } = await t.prisma.pendingRequest.findUniqueOrThrow({ where: { id } });

    t.clock.set(expiresAt.getTime() + (PENDING_RETENTION_SECONDS - 1) * 1000);
    await sweeper.sweep();
    const late = await send(t, {
      path: pending,
      key: agent.key,
      signatureKey: newAgent(t, { key: agent.key }).agentToken,
    });
    // §Polling Error Codes: the first poll after expiry learns `expired`; every later one `gone`.
    expect(late.statusCode).toBe(408);
    expect(late.json().error).toBe('expired');
    const again = await send(t, {
      path: pending,
      key: agent.key,
      signatureKey: newAgent(t, { key: agent.key }).agentToken,
    });
    expect(again.statusCode).toBe(410);
    expect(again.json().error).toBe('gone');
    // The terminal answer moved `terminal_at` to now: the row stays another retention period.
    const terminalAt = (await t.prisma.pendingRequest.findUniqueOrThrow({ where: { id } })).terminalAt!;
    t.clock.set(terminalAt.getTime() + (PENDING_RETENTION_SECONDS - 1) * 1000);
    await sweeper.sweep();
    expect(await t.prisma.pendingRequest.count({ where: { id } })).toBe(1);
    t.clock.set(terminalAt.getTime() + (PENDING_RETENTION_SECONDS + 1) * 1000);
    await sweeper.sweep();
    expect(await t.prisma.pendingRequest.count({ where: { id } })).toBe(0);
  });

  it('deletes token records, session grants, sessions, chained requests and revocations past retention, keeps the rest', async () => {
    const past = (s: number) => at(-s);
    const stale = TOKEN_RECORD_RETENTION_SECONDS + 1;
    const fresh = TOKEN_RECORD_RETENTION_SECONDS - 1;
    const record = (jti: string, exp: Date) => ({
      iss: 'https://ps.example',
      jti,
      sub: 's',
      exp,
      cnfJkt: 'jkt',
      seenAt: at(-7200),
    });
    await t.prisma.personTokenRecord.createMany({
      data: [
        record('pt-old-1', past(stale)),
        record('pt-old-2', past(stale + 5)),
        record('pt-old-3', past(stale + 9)),
        record('pt-kept', past(fresh)),
      ],
    });
    await t.prisma.authTokenRecord.createMany({
      data: [
        { ...record('at-old', past(stale)), ps: 'https://ps.example' },
        { ...record('at-kept', past(fresh)), ps: 'https://ps.example' },
      ],
    });
    const user = await t.prisma.resourceUser.create({
      data: { id: randomUUID(), username: `u-${randomUUID()}`, passwordHash: 'x', displayName: 'U' },
    });
    const grant = (hash: string, expiresAt: Date) => ({
      tokenHash: hash,
      grantId: randomUUID(),
      userId: user.id,
      agentJkt: 'jkt',
      scope: 'notes.read',
      issuedAt: at(-30 * 24 * 3600),
      expiresAt,
    });
    await t.prisma.sessionToken.createMany({
      data: [grant('st-old', past(stale)), grant('st-kept', past(fresh))],
    });
    await t.prisma.webSession.createMany({
      data: [
        { idHash: 'ws-old', userId: user.id, expiresAt: past(1) },
        { idHash: 'ws-kept', userId: user.id, expiresAt: at(60) },
      ],
    });
    const chained = (id: string, expiresAt: Date, terminalAt: Date | null) => ({
      id,
      ownerJkt: 'jkt',
      status: 'done',
      step: 'auth',
      ps: 'https://ps.example',
      personSub: 's',
      capabilities: '',
      createdAt: at(-7200),
      expiresAt,
      terminalAt,
    });
    await t.prisma.chainedRequest.createMany({
      data: [
        chained('ch-old', past(PENDING_RETENTION_SECONDS + 1), past(PENDING_RETENTION_SECONDS + 1)),
        chained('ch-ended-recently', past(PENDING_RETENTION_SECONDS + 1), past(1)),
        chained('ch-expired-recently', past(1), null),
      ],
    });
    const revocation = (jti: string, expiresAt: Date | null) => ({
      iss: 'https://ps.example',
      jti,
      revokedAt: at(-7200),
      revokedBy: 'https://ps.example',
      expiresAt,
    });
    await t.prisma.revocation.createMany({
      data: [
        revocation('rv-old', past(REVOCATION_SKEW_SECONDS + 1)),
        revocation('rv-kept', past(REVOCATION_SKEW_SECONDS - 1)),
        revocation('rv-no-exp', null),
      ],
    });

    const report = await sweeper.sweep();
    expect(report.failed).toEqual([]);
    // Three stale person-token records with a batch size of 2: two statements, every row gone.
    expect(report.deleted.person_token_record).toBe(3);
    const jtis = async (rows: Promise<{ jti: string }[]>) => (await rows).map((r) => r.jti).sort();
    expect(
      await jtis(t.prisma.personTokenRecord.findMany({ where: { jti: { startsWith: 'pt-' } } })),
    ).toEqual(['pt-kept']);
    expect(await jtis(t.prisma.authTokenRecord.findMany({ where: { jti: { startsWith: 'at-' } } }))).toEqual([
      'at-kept',
    ]);
    expect(
      (await t.prisma.sessionToken.findMany({ where: { userId: user.id } })).map((r) => r.tokenHash),
    ).toEqual(['st-kept']);
    expect((await t.prisma.webSession.findMany({ where: { userId: user.id } })).map((r) => r.idHash)).toEqual(
      ['ws-kept'],
    );
    expect(
      (await t.prisma.chainedRequest.findMany({ where: { id: { startsWith: 'ch-' } } }))
        .map((r) => r.id)
        .sort(),
    ).toEqual(['ch-ended-recently', 'ch-expired-recently']);
    expect(await jtis(t.prisma.revocation.findMany({ where: { jti: { startsWith: 'rv-' } } }))).toEqual([
      'rv-kept',
      'rv-no-exp',
    ]);

    // Idempotent: a second sweep (another instance) finds nothing more.
    const again = await sweeper.sweep();
    expect(Object.values(again.deleted).every((n) => n === 0)).toBe(true);
  });

  it('reads its settings from the environment (defaults: 60 s sweeps, 1 h pending, 24 h token records)', async () => {
    const { loadConfig } = await import('../src/config.js');
    const config = loadConfig({ AAUTH_DEV: '1', LOG_LEVEL: 'silent' });
    expect(config.RETENTION_INTERVAL_SECONDS).toBe(60);
    expect(config.PENDING_RETENTION_SECONDS).toBe(3600);
    expect(config.TOKEN_RECORD_RETENTION_SECONDS).toBe(86_400);
  });
});
