import { randomUUID } from 'node:crypto';
import { DEV, parseAAuthRequirement } from '@aauth-ref/core';
import { createRetentionSweeper, type RetentionSweeper } from '@aauth-ref/fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createPersonServerRetentionTasks,
  RATE_LIMIT_RETENTION_SECONDS,
  REVOCATION_SKEW_SECONDS,
} from '../src/stores/retention.js';
import {
  ALICE,
  Browser,
  hwkMember,
  ISSUER,
  newKey,
  sendSigned,
  startTestApp,
  type TestApp,
} from './support/app-harness.js';

const PENDING_RETENTION_SECONDS = 60;
const RESOURCE_TOKEN_MAX_LIFETIME_SECONDS = 300;
const AUDIT_RETENTION_SECONDS = 86_400;

let t: TestApp;
let sweeper: RetentionSweeper;
let personId: string;
beforeAll(async () => {
  // The app's own sweeper is off: the test sweeps by hand at the instants it chooses. Token records
  // are kept 0 s past exp, so only the §Person Token Endpoint floor keeps person-token records.
  t = await startTestApp({
    env: {
      RETENTION_INTERVAL_SECONDS: '0',
      PENDING_RETENTION_SECONDS: String(PENDING_RETENTION_SECONDS),
      TOKEN_RECORD_RETENTION_SECONDS: '0',
      RESOURCE_TOKEN_MAX_LIFETIME_SECONDS: String(RESOURCE_TOKEN_MAX_LIFETIME_SECONDS),
      AUDIT_RETENTION_SECONDS: String(AUDIT_RETENTION_SECONDS),
    },
  });
  sweeper = createSweeper(t.config.AUDIT_RETENTION_SECONDS);
  personId = (await t.prisma.person.findUniqueOrThrow({ where: { username: 'alice' } })).id;
});
afterAll(async () => {
  await t?.close();
});

function createSweeper(auditRetentionSeconds: number): RetentionSweeper {
  return createRetentionSweeper({
    tasks: createPersonServerRetentionTasks(t.database, {
      pendingRetentionSeconds: t.config.PENDING_RETENTION_SECONDS,
      tokenRecordRetentionSeconds: t.config.TOKEN_RECORD_RETENTION_SECONDS,
      resourceTokenMaxLifetimeSeconds: t.config.RESOURCE_TOKEN_MAX_LIFETIME_SECONDS,
      auditRetentionSeconds,
    }),
    clock: t.clock,
    logger: { debug() {}, error() {} },
    intervalMs: 0,
  });
}

const at = (offsetSeconds: number) => new Date(t.clock.now() + offsetSeconds * 1000);

/** An R3 audit entry on its own (it names a token by `jti`; the token record need not exist). */
function r3Audit(jti: string, issuedAt: Date) {
  return {
    jti,
    r3Uri: 'https://resource.example/r3/x',
    r3S256: 'x',
    ps: 'http://localhost:3001',
    sub: 'directed',
    agentJkt: 'jkt',
    agentIss: 'https://agent.example',
    agentSub: 'aauth:a@agent.example',
    r3Granted: [],
    proposal: false,
    issuedAt,
  };
}

function enroll(durable: ReturnType<typeof newKey>) {
  return sendSigned(t, {
    method: 'POST',
    path: '/agent/enroll',
    key: durable,
    signatureKey: hwkMember(durable),
    body: { name: 'Retention agent' },
  });
}

function poll(durable: ReturnType<typeof newKey>, location: string) {
  return sendSigned(t, {
    method: 'GET',
    path: new URL(location).pathname,
    key: durable,
    signatureKey: hwkMember(durable),
  });
}

describe('retention of the PS tables (docs/reliability.md, Retention)', () => {
  it('keeps a terminal pending request for its retention (late poll → 410), then deletes it with its code', async () => {
    const durable = newKey();
    const res = await enroll(durable);
    expect(res.statusCode).toBe(202);
    const location = String(res.headers.location);
    const id = new URL(location).pathname.split('/').at(-1)!;
    const { expiresAt } = await t.prisma.pendingRequest.findUniqueOrThrow({ where: { id } });

    // Expired, never polled, inside the retention: kept, and the late poll learns `expired`.
    t.clock.set(expiresAt.getTime() + (PENDING_RETENTION_SECONDS - 1) * 1000);
    await sweeper.sweep();
    const expired = await poll(durable, location);
    expect(expired.statusCode).toBe(408);
    expect(expired.json().error).toBe('expired');
    const { terminalAt } = await t.prisma.pendingRequest.findUniqueOrThrow({ where: { id } });

    // Terminal: every later poll within the retention is 410.
    t.clock.set(terminalAt!.getTime() + (PENDING_RETENTION_SECONDS - 1) * 1000);
    await sweeper.sweep();
    const gone = await poll(durable, location);
    expect(gone.statusCode).toBe(410);
    expect(gone.json().error).toBe('gone');

    t.clock.set(terminalAt!.getTime() + (PENDING_RETENTION_SECONDS + 1) * 1000);
    expect((await sweeper.sweep()).deleted.pending_request).toBeGreaterThanOrEqual(1);
    expect(await t.prisma.pendingRequest.count({ where: { id } })).toBe(0);
    expect((await poll(durable, location)).statusCode).toBe(404);
  });

  it('§Person Token Endpoint: keeps a person-token record past exp for the longest resource-token lifetime', async () => {
    const record = (jti: string, exp: Date) => ({
      jti,
      ps: 'http://localhost:3001',
      sub: 'directed',
      exp,
      resource: 'https://resource.example',
      personId,
      agentIss: 'https://agent.example',
      agentSub: 'aauth:a@agent.example',
      cnfJkt: 'jkt',
      issuedAt: at(-7200),
    });
    await t.prisma.personTokenRecord.createMany({
      data: [
        record('ptr-within', at(-(RESOURCE_TOKEN_MAX_LIFETIME_SECONDS - 1))),
        record('ptr-past', at(-(RESOURCE_TOKEN_MAX_LIFETIME_SECONDS + 1))),
        record('ptr-live', at(60)),
      ],
    });
    await sweeper.sweep();
    const left = await t.prisma.personTokenRecord.findMany({ where: { jti: { startsWith: 'ptr-' } } });
    expect(left.map((r) => r.jti).sort()).toEqual(['ptr-live', 'ptr-within']);
  });

  it('deletes issued tokens (R3 ones too: their audit entry stays), sessions, revocations, seen agent tokens and rate-limit attempts past retention', async () => {
    const issued = (jti: string, exp: Date) => ({
      jti,
      iss: 'http://localhost:3001',
      aud: 'https://resource.example',
      sub: 'directed',
      personId,
      agentIss: 'https://agent.example',
      agentSub: 'aauth:a@agent.example',
      cnfJkt: 'jkt',
      issuedAt: at(-7200),
      exp,
    });
    await t.prisma.issuedAuthToken.createMany({
      data: [issued('iat-old', at(-1)), issued('iat-live', at(60)), issued('iat-r3', at(-1))],
    });
    await t.prisma.r3AuditRecord.create({ data: r3Audit('iat-r3', at(-7200)) });
    await t.prisma.issuedAgentToken.createMany({
      data: [
        { jti: 'iag-old', sub: 's', cnfJkt: 'jkt', issuedAt: at(-7200), expiresAt: at(-1) },
        { jti: 'iag-live', sub: 's', cnfJkt: 'jkt', issuedAt: at(-7200), expiresAt: at(60) },
      ],
    });
    await t.prisma.webSession.createMany({
      data: [
        { idHash: `ws-old-${randomUUID()}`, personId, expiresAt: at(-1) },
        { idHash: 'ws-live', personId, expiresAt: at(60) },
      ],
    });
    await t.prisma.revocation.createMany({
      data: [
        { iss: 'https://x.example', jti: 'rv-old', expiresAt: at(-(REVOCATION_SKEW_SECONDS + 1)) },
        { iss: 'https://x.example', jti: 'rv-skew', expiresAt: at(-(REVOCATION_SKEW_SECONDS - 1)) },
        { iss: 'https://x.example', jti: 'rv-no-exp', expiresAt: null },
      ],
    });
    await t.prisma.seenAgentToken.createMany({
      data: [
        { iss: 'https://x.example', jti: 'sat-old', sub: 's', expiresAt: at(-1) },
        { iss: 'https://x.example', jti: 'sat-live', sub: 's', expiresAt: at(60) },
      ],
    });
    await t.prisma.rateLimitAttempt.createMany({
      data: [
        { scope: 'retention', key: 'k', at: at(-(RATE_LIMIT_RETENTION_SECONDS + 1)) },
        { scope: 'retention', key: 'k', at: at(-60) },
      ],
    });

    const report = await sweeper.sweep();
    expect(report.failed).toEqual([]);
    const jtis = (rows: { jti: string }[]) => rows.map((r) => r.jti).sort();
    expect(jtis(await t.prisma.issuedAuthToken.findMany({ where: { jti: { startsWith: 'iat-' } } }))).toEqual(
      ['iat-live'],
    );
    expect(await t.prisma.r3AuditRecord.count({ where: { jti: 'iat-r3' } })).toBe(1);
    expect(
      jtis(await t.prisma.issuedAgentToken.findMany({ where: { jti: { startsWith: 'iag-' } } })),
    ).toEqual(['iag-live']);
    expect((await t.prisma.webSession.findMany({ where: { personId } })).map((r) => r.idHash)).toEqual([
      'ws-live',
    ]);
    expect(jtis(await t.prisma.revocation.findMany({ where: { iss: 'https://x.example' } }))).toEqual([
      'rv-no-exp',
      'rv-skew',
    ]);
    expect(jtis(await t.prisma.seenAgentToken.findMany({ where: { iss: 'https://x.example' } }))).toEqual([
      'sat-live',
    ]);
    expect(await t.prisma.rateLimitAttempt.count({ where: { scope: 'retention' } })).toBe(1);
  });

  it('keeps audit rows (R3 audit records, governance log, security log) AUDIT_RETENTION_SECONDS after they were written', async () => {
    await t.prisma.r3AuditRecord.createMany({
      data: [
        r3Audit('r3a-old', at(-(AUDIT_RETENTION_SECONDS + 1))),
        r3Audit('r3a-kept', at(-(AUDIT_RETENTION_SECONDS - 1))),
      ],
    });
    const governance = (kind: string, createdAt: Date) => ({
      agentIss: 'https://agent.example',
      agentSub: 'aauth:a@agent.example',
      kind,
      detail: {},
      createdAt,
    });
    await t.prisma.governanceLogEntry.createMany({
      data: [
        governance('retention-old', at(-(AUDIT_RETENTION_SECONDS + 1))),
        governance('retention-kept', at(-(AUDIT_RETENTION_SECONDS - 1))),
      ],
    });
    const security = (event: string, createdAt: Date) => ({ id: randomUUID(), event, detail: {}, createdAt });
    await t.prisma.securityEvent.createMany({
      data: [
        security('retention.old', at(-(AUDIT_RETENTION_SECONDS + 1))),
        security('retention.kept', at(-(AUDIT_RETENTION_SECONDS - 1))),
      ],
    });

    const report = await sweeper.sweep();
    expect(report.failed).toEqual([]);
    expect(report.deleted.r3_audit_record).toBeGreaterThanOrEqual(1);
    const jtis = (rows: { jti: string }[]) => rows.map((r) => r.jti).sort();
    expect(jtis(await t.prisma.r3AuditRecord.findMany({ where: { jti: { startsWith: 'r3a-' } } }))).toEqual([
      'r3a-kept',
    ]);
    expect(
      (await t.prisma.governanceLogEntry.findMany({ where: { kind: { startsWith: 'retention-' } } })).map(
        (r) => r.kind,
      ),
    ).toEqual(['retention-kept']);
    expect(
      (await t.prisma.securityEvent.findMany({ where: { event: { startsWith: 'retention.' } } })).map(
        (r) => r.event,
      ),
    ).toEqual(['retention.kept']);
  });

  it('AUDIT_RETENTION_SECONDS=0 keeps audit rows forever', async () => {
    await t.prisma.r3AuditRecord.create({ data: r3Audit('r3a-ancient', at(-10 * 366 * 24 * 3600)) });
    const report = await createSweeper(0).sweep();
    expect(report.failed).toEqual([]);
    expect(Object.keys(report.deleted)).not.toContain('r3_audit_record');
    expect(Object.keys(report.deleted)).not.toContain('governance_log_entry');
    expect(Object.keys(report.deleted)).not.toContain('security_event');
    expect(await t.prisma.r3AuditRecord.count({ where: { jti: 'r3a-ancient' } })).toBe(1);
  });

  it('keeps enrollment rows: only approvals write one, and a denied enrollment leaves only its pending request, swept like the others', async () => {
    const browser = new Browser(t);
    expect((await browser.signIn(ALICE.username, ALICE.password)).statusCode).toBe(303);
    async function decide(decision: 'approve' | 'deny') {
      const durable = newKey();
      const res = await enroll(durable);
      expect(res.statusCode).toBe(202);
      const { code } = parseAAuthRequirement(String(res.headers['aauth-requirement']), DEV) as {
        code: string;
      };
      const page = await browser.get(`/interaction?code=${encodeURIComponent(code)}`);
      const pendingId = /name="request" value="([^"]+)"/.exec(page.body)![1]!;
      const decided = await browser.post('/interaction', {
        _csrf: browser.csrf(),
        request: pendingId,
        decision,
      });
      expect(decided.statusCode).toBe(200);
      return { durable, pendingId };
    }
    const enrollmentOf = (durable: ReturnType<typeof newKey>) =>
      t.prisma.enrollment.findUnique({ where: { durableJkt: durable.thumbprint } });

    const approved = await decide('approve');
    const denied = await decide('deny');
    const revoked = await decide('approve');
    const revokedSub = (await enrollmentOf(revoked.durable))!.agentSub;
    await browser.get('/dashboard');
    const disconnect = await browser.post('/dashboard/agents/revoke', {
      _csrf: browser.csrf(),
      agent_iss: ISSUER,
      agent_sub: revokedSub,
    });
    expect(disconnect.statusCode).toBe(303);
    expect(await enrollmentOf(denied.durable)).toBeNull();

    // A year on: every enrollment request is gone, the enrollments themselves are not.
    t.clock.advance(366 * 24 * 3600 * 1000);
    expect((await sweeper.sweep()).failed).toEqual([]);
    const pendingIds = [approved, denied, revoked].map((d) => d.pendingId);
    expect(await t.prisma.pendingRequest.count({ where: { id: { in: pendingIds } } })).toBe(0);
    expect((await enrollmentOf(approved.durable))?.status).toBe('approved');
    expect((await enrollmentOf(revoked.durable))?.status).toBe('revoked');
    // What the rows still decide: the approved key is known at once, the revoked one stays refused.
    const again = await enroll(approved.durable);
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual({
      status: 'approved',
      agent: (await enrollmentOf(approved.durable))!.agentSub,
    });
    const refused = await enroll(revoked.durable);
    expect(refused.statusCode).toBe(403);
    expect(refused.json().error).toBe('forbidden');
  });

  it('reads its settings from the environment (defaults: 60 s sweeps, 1 h pending, 24 h token records, 400 d audit)', async () => {
    const { loadConfig } = await import('../src/config.js');
    const config = loadConfig({ AAUTH_DEV: '1', LOG_LEVEL: 'silent' });
    expect(config.RETENTION_INTERVAL_SECONDS).toBe(60);
    expect(config.PENDING_RETENTION_SECONDS).toBe(3600);
    expect(config.TOKEN_RECORD_RETENTION_SECONDS).toBe(86_400);
    expect(config.AUDIT_RETENTION_SECONDS).toBe(34_560_000);
    expect(
      loadConfig({ AAUTH_DEV: '1', LOG_LEVEL: 'silent', AUDIT_RETENTION_SECONDS: '0' })
        .AUDIT_RETENTION_SECONDS,
    ).toBe(0);
    expect(() => loadConfig({ AAUTH_DEV: '1', LOG_LEVEL: 'silent', AUDIT_RETENTION_SECONDS: '-1' })).toThrow(
      /AUDIT_RETENTION_SECONDS/,
    );
  });
});
