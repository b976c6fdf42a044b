import { randomUUID } from 'node:crypto';
import { createRetentionSweeper, type RetentionSweeper, type RetentionTimers } from '@aauth-ref/fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { createAccessServerRetentionTasks, REVOCATION_SKEW_SECONDS } from '../src/stores/retention.js';
import { makeRequestTokens, sendAsPs, startTestApp, type TestApp } from './support/app-harness.js';
import { TEST_POLICY } from './support/policy.js';

const PENDING_RETENTION_SECONDS = 60;
const TOKEN_RECORD_RETENTION_SECONDS = 600;
const AUDIT_RETENTION_SECONDS = 86_400;

let t: TestApp;
let sweeper: RetentionSweeper;
beforeAll(async () => {
  // The app's own sweeper is off: the test sweeps by hand at the instants it chooses.
  t = await startTestApp({
    policy: TEST_POLICY,
    env: {
      PENDING_TTL_SECONDS: '60',
      RETENTION_INTERVAL_SECONDS: '0',
      PENDING_RETENTION_SECONDS: String(PENDING_RETENTION_SECONDS),
      TOKEN_RECORD_RETENTION_SECONDS: String(TOKEN_RECORD_RETENTION_SECONDS),
      AUDIT_RETENTION_SECONDS: String(AUDIT_RETENTION_SECONDS),
    },
  });
  sweeper = createSweeper(t.config.AUDIT_RETENTION_SECONDS);
});
afterAll(async () => {
  await t?.close();
});

function createSweeper(auditRetentionSeconds: number): RetentionSweeper {
  return createRetentionSweeper({
    tasks: createAccessServerRetentionTasks(t.database, {
      pendingRetentionSeconds: t.config.PENDING_RETENTION_SECONDS,
      tokenRecordRetentionSeconds: t.config.TOKEN_RECORD_RETENTION_SECONDS,
      auditRetentionSeconds,
    }),
    clock: t.clock,
    logger: { debug() {}, error() {} },
    intervalMs: 0,
  });
}

const at = (offsetSeconds: number) => new Date(t.clock.now() + offsetSeconds * 1000);

/** A token request the policy defers with `requirement=claims`. */
async function startPending(): Promise<{ id: string; path: string }> {
  const tokens = makeRequestTokens(t, { scope: 'billing read' });
  const res = await sendAsPs(t, { method: 'POST', path: '/token', body: tokens.body });
  expect(res.statusCode).toBe(202);
  const path = new URL(String(res.headers.location)).pathname;
  return { id: path.split('/').at(-1)!, path };
}

function issued(jti: string, exp: Date) {
  return {
    jti,
    aud: 'https://resource.example',
    ps: 'https://ps.example',
    sub: 's',
    agentIss: 'https://agent.example',
    agentSub: 'aauth:a@agent.example',
    cnfJkt: 'jkt',
    resourceTokenJti: randomUUID(),
    issuedAt: at(-7200),
    exp,
  };
}

/** An R3 audit entry on its own (it names a token by `jti`; the token record need not exist). */
function r3Audit(jti: string, issuedAt: Date) {
  return {
    jti,
    r3Uri: 'https://resource.example/r3/x',
    r3S256: 'x',
    ps: 'https://ps.example',
    sub: 's',
    agentJkt: 'jkt',
    agentIss: 'https://agent.example',
    agentSub: 'aauth:a@agent.example',
    r3Granted: [],
    proposal: false,
    issuedAt,
  };
}

describe('retention of the AS tables (docs/reliability.md, Retention)', () => {
  it('keeps a cancelled pending request for its retention past expiry (late poll → 410), then deletes it', async () => {
    const { id, path } = await startPending();
    expect((await sendAsPs(t, { method: 'DELETE', path })).statusCode).toBe(204);
    const { expiresAt } = await t.prisma.pendingRequest.findUniqueOrThrow({ where: { id } });

    // Ended before its expiry: kept until expiry + retention.
    t.clock.set(expiresAt.getTime() + (PENDING_RETENTION_SECONDS - 1) * 1000);
    await sweeper.sweep();
    const late = await sendAsPs(t, { method: 'GET', path });
    expect(late.statusCode).toBe(410);
    expect(late.json().error).toBe('gone');

    t.clock.set(expiresAt.getTime() + (PENDING_RETENTION_SECONDS + 1) * 1000);
    expect((await sweeper.sweep()).deleted.pending_request).toBeGreaterThanOrEqual(1);
    expect(await t.prisma.pendingRequest.count({ where: { id } })).toBe(0);
    expect((await sendAsPs(t, { method: 'GET', path })).statusCode).toBe(404);
  });

  it('deletes issued tokens (R3 ones too: their audit entry stays), sessions and revocations past retention; keeps live rows', async () => {
    await t.prisma.issuedAuthToken.createMany({
      data: [
        issued('iat-old', at(-(TOKEN_RECORD_RETENTION_SECONDS + 1))),
        issued('iat-kept', at(-(TOKEN_RECORD_RETENTION_SECONDS - 1))),
        issued('iat-r3', at(-(TOKEN_RECORD_RETENTION_SECONDS + 1))),
      ],
    });
    await t.prisma.r3AuditRecord.create({ data: r3Audit('iat-r3', at(-7200)) });
    const person = await t.prisma.asPerson.create({
      data: { id: randomUUID(), username: `p-${randomUUID()}`, passwordHash: 'x', displayName: 'P' },
    });
    await t.prisma.webSession.createMany({
      data: [
        { idHash: 'ws-old', personId: person.id, expiresAt: at(-1) },
        { idHash: 'ws-live', personId: person.id, expiresAt: at(60) },
      ],
    });
    await t.prisma.revocation.createMany({
      data: [
        { iss: 'https://x.example', jti: 'rv-old', expiresAt: at(-(REVOCATION_SKEW_SECONDS + 1)) },
        { iss: 'https://x.example', jti: 'rv-skew', expiresAt: at(-(REVOCATION_SKEW_SECONDS - 1)) },
        { iss: 'https://x.example', jti: 'rv-no-exp', expiresAt: null },
      ],
    });

    const report = await sweeper.sweep();
    expect(report.failed).toEqual([]);
    const jtis = (rows: { jti: string }[]) => rows.map((r) => r.jti).sort();
    expect(jtis(await t.prisma.issuedAuthToken.findMany({ where: { jti: { startsWith: 'iat-' } } }))).toEqual(
      ['iat-kept'],
    );
    expect(await t.prisma.r3AuditRecord.count({ where: { jti: 'iat-r3' } })).toBe(1);
    expect(
      (await t.prisma.webSession.findMany({ where: { personId: person.id } })).map((r) => r.idHash),
    ).toEqual(['ws-live']);
    expect(jtis(await t.prisma.revocation.findMany({ where: { iss: 'https://x.example' } }))).toEqual([
      'rv-no-exp',
      'rv-skew',
    ]);
  });

  it('keeps an R3 audit record AUDIT_RETENTION_SECONDS after issued_at; 0 keeps it forever', async () => {
    await t.prisma.r3AuditRecord.createMany({
      data: [
        r3Audit('r3a-old', at(-(AUDIT_RETENTION_SECONDS + 1))),
        r3Audit('r3a-kept', at(-(AUDIT_RETENTION_SECONDS - 1))),
      ],
    });
    const forever = await createSweeper(0).sweep();
    expect(forever.failed).toEqual([]);
    expect(Object.keys(forever.deleted)).not.toContain('r3_audit_record');
    const jtis = async () =>
      (await t.prisma.r3AuditRecord.findMany({ where: { jti: { startsWith: 'r3a-' } } }))
        .map((r) => r.jti)
        .sort();
    expect(await jtis()).toEqual(['r3a-kept', 'r3a-old']);

    const report = await sweeper.sweep();
    expect(report.failed).toEqual([]);
    expect(report.deleted.r3_audit_record).toBe(1);
    expect(await jtis()).toEqual(['r3a-kept']);
  });

  it('reads AUDIT_RETENTION_SECONDS (default 400 days; 0 allowed)', async () => {
    const { loadConfig } = await import('../src/config.js');
    expect(loadConfig({ AAUTH_DEV: '1', LOG_LEVEL: 'silent' }).AUDIT_RETENTION_SECONDS).toBe(34_560_000);
    expect(
      loadConfig({ AAUTH_DEV: '1', LOG_LEVEL: 'silent', AUDIT_RETENTION_SECONDS: '0' })
        .AUDIT_RETENTION_SECONDS,
    ).toBe(0);
  });

  it('the app schedules its sweeper from RETENTION_INTERVAL_SECONDS and stops it on close', async () => {
    const { loadConfig } = await import('../src/config.js');
    const config = loadConfig({ AAUTH_DEV: '1', LOG_LEVEL: 'silent', TOKEN_RECORD_RETENTION_SECONDS: '0' });
    expect(config.RETENTION_INTERVAL_SECONDS).toBe(60);
    expect(config.PENDING_RETENTION_SECONDS).toBe(3600);

    const scheduled: { fn: () => void; ms: number; cleared: boolean }[] = [];
    const timers: RetentionTimers = {
      setTimeout(fn, ms) {
        const entry = { fn, ms, cleared: false };
        scheduled.push(entry);
        return entry;
      },
      clearTimeout(handle) {
        (handle as { cleared: boolean }).cleared = true;
      },
    };
    const app = await buildApp(config, {
      database: t.database,
      prisma: t.prisma,
      clock: t.clock,
      keys: t.keys,
      logger: false,
      keepDatabaseOpen: true,
      retentionTimers: timers,
    });
    await t.prisma.issuedAuthToken.create({ data: issued('iat-wired', at(-1)) });
    expect(scheduled).toHaveLength(1);
    expect(scheduled[0]!.ms).toBeGreaterThanOrEqual(48_000);
    expect(scheduled[0]!.ms).toBeLessThanOrEqual(72_000);
    scheduled[0]!.fn();
    await expect.poll(() => scheduled.length).toBe(2);
    expect(await t.prisma.issuedAuthToken.count({ where: { jti: 'iat-wired' } })).toBe(0);
    await app.close();
    expect(scheduled[1]!.cleared).toBe(true);
  });
});
