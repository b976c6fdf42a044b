import { createLocalKeyResolver, DWK } from '@aauth-ref/core';
import { createFakeClock, injectBuilt } from '@aauth-ref/testkit';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type RevocationRefreshOptions } from '../src/app.js';
import {
  createRevocationSet,
  DEFAULT_REVOCATION_MAX_STALENESS_MS,
  type RevocationFeed,
  type RevocationRow,
} from '../src/services/revocation-set.js';
import { createPrismaRevocationFeed } from '../src/stores/prisma-revocations.js';
import {
  authToken,
  buildRequest,
  decodePayload,
  newAgent,
  personToken,
  type SendOptions,
  send,
  startTestApp,
  type TestApp,
} from './support/app-harness.js';

/**
 * Revocation state held in memory per instance (docs/spec-decisions.md, *Resource server: revocation
 * state in memory*): refused at once on the instance that received `POST /revoke`, on every other
 * instance at its next poll and never later than the staleness bound, and refused with 503 when the
 * state can no longer be refreshed. Time is the fake clock; polls are driven by hand.
 */

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.close();
});

/** A second instance on the same database, keys and clock, whose polling the test drives. */
interface Instance {
  readonly app: FastifyInstance;
  /** Runs one scheduled poll, as the timer would. */
  tick(): Promise<void>;
  /** The interval the app asked its scheduler for. */
  readonly intervalMs: number;
}

const instances: FastifyInstance[] = [];
afterAll(async () => {
  for (const app of instances) await app.close();
});

async function startInstance(options: Omit<RevocationRefreshOptions, 'schedule'> = {}): Promise<Instance> {
  let scheduled: (() => Promise<void>) | undefined;
  let interval = 0;
  const app = await buildApp(t.config, {
    database: t.database,
    prisma: t.prisma,
    clock: t.clock,
    keys: t.keys,
    remoteKeys: createLocalKeyResolver([t.ps, t.ps2, t.ap, t.as]),
    logger: false,
    keepDatabaseOpen: true,
    revocationRefresh: {
      ...options,
      schedule(tick, intervalMs) {
        scheduled = tick;
        interval = intervalMs;
        return () => {
          scheduled = undefined;
        };
      },
    },
  });
  instances.push(app);
  return {
    app,
    intervalMs: interval,
    async tick() {
      if (!scheduled) throw new Error('no poll scheduled');
      await scheduled();
    },
  };
}

function sendTo(app: FastifyInstance, options: SendOptions) {
  return injectBuilt(app, buildRequest(t, options));
}

/** `POST /revoke` from the issuing PS, on the test's first instance. */
function revokeOnFirst(iss: string, jti: string) {
  return send(t, {
    method: 'POST',
    path: '/revoke',
    key: t.ps.signingKey,
    signatureKey: { scheme: 'jwks_uri', id: t.ps.issuer, dwk: DWK.person, kid: t.ps.signingKey.kid },
    body: { iss, jti },
    additionalComponents: ['content-type', 'content-digest'],
  });
}

/** An agent with an auth token both instances have accepted once. */
async function tokenAcceptedBy(...apps: FastifyInstance[]) {
  const agent = newAgent(t);
  await send(t, { path: '/api/me', key: agent.key, signatureKey: personToken(t, agent.key) });
  const token = authToken(t, agent.key);
  for (const app of apps) {
    const response = await sendTo(app, { path: '/api/notes', key: agent.key, signatureKey: token });
    expect(response.statusCode).toBe(200);
  }
  const claims = decodePayload(token);
  return { agent, token, iss: claims.iss as string, jti: claims.jti as string };
}

describe('revocation state across instances — §Token Revocation', () => {
  it('polls every second and answers from state at most 3 s old by default', async () => {
    const b = await startInstance();
    expect(b.intervalMs).toBe(1_000);
    expect(DEFAULT_REVOCATION_MAX_STALENESS_MS).toBe(3_000);
  });

  it('§Token Revocation: refused at once on the receiving instance, and on another at its next poll', async () => {
    const b = await startInstance();
    const { agent, token, iss, jti } = await tokenAcceptedBy(t.app, b.app);
    expect((await revokeOnFirst(iss, jti)).statusCode).toBe(200);

    const onFirst = await send(t, { path: '/api/notes', key: agent.key, signatureKey: token });
    expect(onFirst.statusCode).toBe(401);
    expect(onFirst.headers['signature-error']).toBe('error=invalid_jwt');

    // Until its next poll (and within the staleness bound) B answers from the state it holds.
    const beforePoll = await sendTo(b.app, { path: '/api/notes', key: agent.key, signatureKey: token });
    expect(beforePoll.statusCode).toBe(200);
    await b.tick();
    const onSecond = await sendTo(b.app, { path: '/api/notes', key: agent.key, signatureKey: token });
    expect(onSecond.statusCode).toBe(401);
    expect(onSecond.headers['signature-error']).toBe('error=invalid_jwt');
  });

  it('§Token Revocation: without any poll, another instance refuses once its state is older than the bound', async () => {
    const b = await startInstance();
    const { agent, token, iss, jti } = await tokenAcceptedBy(t.app, b.app);
    expect((await revokeOnFirst(iss, jti)).statusCode).toBe(200);
    // B's timer never runs; B's state was refreshed at this clock time. Past the bound, the next
    // request waits for a poll of its own.
    t.clock.advance(DEFAULT_REVOCATION_MAX_STALENESS_MS + 1);
    const response = await sendTo(b.app, { path: '/api/notes', key: agent.key, signatureKey: token });
    expect(response.statusCode).toBe(401);
    expect(response.headers['signature-error']).toBe('error=invalid_jwt');
  });

  it('§Token Revocation: an instance started after the revocation refuses the token from its first request', async () => {
    const { agent, token, iss, jti } = await tokenAcceptedBy(t.app);
    expect((await revokeOnFirst(iss, jti)).statusCode).toBe(200);
    const c = await startInstance();
    const response = await sendTo(c.app, { path: '/api/notes', key: agent.key, signatureKey: token });
    expect(response.statusCode).toBe(401);
    expect(response.headers['signature-error']).toBe('error=invalid_jwt');
  });

  it('§Token Revocation: a revoked person token is refused by another instance after its poll', async () => {
    const b = await startInstance();
    const agent = newAgent(t);
    const jwt = personToken(t, agent.key, { jti: 'pt-instances-1' });
    expect((await send(t, { path: '/api/me', key: agent.key, signatureKey: jwt })).statusCode).toBe(200);
    expect((await revokeOnFirst(t.ps.issuer, 'pt-instances-1')).statusCode).toBe(200);
    await b.tick();
    const response = await sendTo(b.app, { path: '/api/me', key: agent.key, signatureKey: jwt });
    expect(response.statusCode).toBe(401);
    expect(response.headers['signature-error']).toBe('error=invalid_jwt');
  });

  it('fails closed: when polls fail past the bound, token-bearing requests get 503 temporarily_unavailable, then recover', async () => {
    const real = createPrismaRevocationFeed(t.prisma);
    let down = false;
    const feed: RevocationFeed = {
      listRecordedSince(since, unexpiredAfter) {
        if (down) return Promise.reject(new Error('connection refused'));
        return real.listRecordedSince(since, unexpiredAfter);
      },
    };
    const b = await startInstance({ feed });
    const { agent, token } = await tokenAcceptedBy(b.app);

    down = true;
    await b.tick(); // fails; the state is still within the bound
    t.clock.advance(DEFAULT_REVOCATION_MAX_STALENESS_MS - 1);
    expect(
      (await sendTo(b.app, { path: '/api/notes', key: agent.key, signatureKey: token })).statusCode,
    ).toBe(200);

    t.clock.advance(2);
    const refused = await sendTo(b.app, { path: '/api/notes', key: agent.key, signatureKey: token });
    expect(refused.statusCode).toBe(503);
    expect(refused.json()).toMatchObject({ error: 'temporarily_unavailable' });
    expect(refused.headers['retry-after']).toBeDefined();
    expect(refused.headers['signature-error']).toBeUndefined();

    down = false;
    const recovered = await sendTo(b.app, { path: '/api/notes', key: agent.key, signatureKey: token });
    expect(recovered.statusCode).toBe(200);
  });
});

describe('createRevocationSet', () => {
  const T0 = Date.parse('2026-11-29T12:00:00Z');
  const row = (
    jti: string,
    recordedAt: number,
    expiresAt: number | null = T0 + 3_600_000,
  ): RevocationRow => ({
    iss: 'https://ps.example',
    jti,
    expiresAt: expiresAt === null ? null : new Date(expiresAt),
    recordedAt: new Date(recordedAt),
  });

  function fakeFeed(rows: RevocationRow[]) {
    const calls: (Date | undefined)[] = [];
    const feed: RevocationFeed = {
      async listRecordedSince(since, unexpiredAfter) {
        calls.push(since);
        return rows.filter(
          (r) =>
            (since === undefined || r.recordedAt >= since) &&
            (r.expiresAt === null || r.expiresAt > unexpiredAfter),
        );
      },
    };
    return { feed, calls };
  }

  it('re-reads behind its watermark, so a row that committed late with an older recorded_at is still seen', async () => {
    const rows = [row('a', T0)];
    const { feed, calls } = fakeFeed(rows);
    const clock = createFakeClock(T0);
    const set = createRevocationSet({ feed, clock, overlapMs: 10_000 });
    await set.refresh();
    expect(calls[0]).toBeUndefined();
    rows.push(row('c', T0 + 5_000));
    await set.refresh();
    // 'b' was written before 'c' but its transaction committed after the poll that saw 'c'.
    rows.push(row('b', T0 + 4_000));
    await set.refresh();
    expect(calls[2]?.getTime()).toBe(T0 + 5_000 - 10_000);
    expect(await set.isRevoked('https://ps.example', 'b')).toBe(true);
    expect(await set.isRevoked('https://ps.example', 'other')).toBe(false);
  });

  it('drops entries once their token has expired (with a minute of slack) and keeps those without expiry', async () => {
    const { feed } = fakeFeed([row('short', T0, T0 + 1_000), row('forever', T0, null)]);
    const clock = createFakeClock(T0);
    const set = createRevocationSet({ feed, clock });
    await set.refresh();
    expect(set.size).toBe(2);
    clock.advance(1_000 + 60_001);
    await set.refresh();
    expect(set.size).toBe(1);
    expect(await set.isRevoked('https://ps.example', 'forever')).toBe(true);
  });

  it('a local insertion is effective without a poll', async () => {
    const { feed } = fakeFeed([]);
    const set = createRevocationSet({ feed, clock: createFakeClock(T0) });
    await set.refresh();
    set.add('https://ps.example', 'local', new Date(T0 + 60_000));
    expect(await set.isRevoked('https://ps.example', 'local')).toBe(true);
  });

  it('before any successful load it polls on the first check, and fails closed when it cannot', async () => {
    const feed: RevocationFeed = { listRecordedSince: () => Promise.reject(new Error('down')) };
    const set = createRevocationSet({ feed, clock: createFakeClock(T0) });
    await expect(set.isRevoked('https://ps.example', 'x')).rejects.toMatchObject({
      status: 503,
      error: 'temporarily_unavailable',
    });
  });
});
