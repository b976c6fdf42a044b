import { AAuthError } from '@aauth-ref/core';
import { createFakeClock } from '@aauth-ref/testkit';
import { describe, expect, it } from 'vitest';
import {
  createPendingEngine,
  displayInteractionCode,
  enforcePollPace,
  minPollIntervalMs,
  type PendingCore,
} from './engine.js';
import { createCodeAttemptGuard, createInteractionCodeEntry } from './interaction-code.js';

interface Row extends PendingCore {
  status: string;
  codeConsumedAt: Date | null;
  lastPolledAt: Date | null;
  terminalAt: Date | null;
  holder: string | null;
}

/** An in-memory store with the same conditional writes as the Prisma ones. */
function createMemoryStore() {
  const rows = new Map<string, Row>();
  return {
    rows,
    async find(id: string) {
      const row = rows.get(id);
      return row ? { ...row } : undefined;
    },
    async findByCode(code: string) {
      const row = [...rows.values()].find((r) => r.interactionCode === code);
      return row ? { ...row } : undefined;
    },
    async markPolled(id: string, at: Date) {
      const row = rows.get(id);
      if (row) row.lastPolledAt = at;
    },
    async finish(id: string, at: Date, status?: string) {
      const row = rows.get(id);
      if (!row || row.terminalAt !== null) return false;
      row.terminalAt = at;
      if (status !== undefined) row.status = status;
      return true;
    },
    async consumeCode(id: string, holderId: string, at: Date) {
      const row = rows.get(id);
      if (row?.status !== 'pending' || row.codeConsumedAt !== null || row.terminalAt !== null) return false;
      Object.assign(row, { status: 'interacting', codeConsumedAt: at, holder: holderId });
      return true;
    },
  };
}

function setup(sleep?: (ms: number) => Promise<void>) {
  const clock = createFakeClock();
  const store = createMemoryStore();
  const engine = createPendingEngine<Row>({
    store,
    clock,
    interactionUrl: 'https://ps.example/interaction',
    ttlSeconds: 600,
    ...(sleep ? { sleep } : {}),
  });
  const add = (fields: Partial<Row> = {}): Row => {
    const code = engine.newInteractionCode();
    const row: Row = {
      id: `${'a'.repeat(40)}${String(store.rows.size).padStart(3, '0')}`,
      status: 'pending',
      interactionCode: code.normalized,
      codeConsumedAt: null,
      holder: null,
      terminalAt: null,
      ...engine.newTimes(),
      ...fields,
    };
    store.rows.set(row.id, row);
    return { ...row };
  };
  return { clock, store, engine, add };
}

async function errorOf(promise: Promise<unknown>): Promise<AAuthError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof AAuthError)) throw new Error(`expected an AAuthError, got ${String(err)}`);
  return err;
}

describe('pending engine (§Deferred Responses, §Polling Error Codes)', () => {
  it('answers another requester exactly like an unknown id: 404', async () => {
    const { engine, add } = setup();
    const row = add();
    const other = await errorOf(engine.loadForOwner(row.id, () => false));
    const unknown = await errorOf(engine.loadForOwner('not-an-id', () => true));
    expect([other.status, other.error]).toEqual([404, 'not_found']);
    expect([unknown.status, unknown.error]).toEqual([404, 'not_found']);
    expect(await engine.loadForOwner(row.id, () => true)).toMatchObject({ id: row.id });
  });

  it('is slow_down with Retry-After + 5 when polled sooner than Retry-After, and records the poll', async () => {
    const { clock, engine, store, add } = setup();
    const row = add();
    clock.advance(minPollIntervalMs(row.retryAfter) - 1);
    const err = await errorOf(engine.checkPace(row));
    expect([err.status, err.error, err.headers]).toEqual([429, 'slow_down', { 'retry-after': '7' }]);
    expect(store.rows.get(row.id)!.lastPolledAt!.getTime()).toBe(clock.now());
    clock.advance(minPollIntervalMs(row.retryAfter));
    await expect(engine.checkPace((await store.find(row.id))!)).resolves.toBeUndefined();
  });

  it.each([
    ['pending', 408, 'expired', 'expired'],
    ['interacting', 403, 'abandoned', 'abandoned'],
  ])('ends an open %s record past its expiry with %i %s', async (status, httpStatus, code, ended) => {
    const { clock, engine, store, add } = setup();
    const row = add({ status });
    clock.advance(600_000);
    const err = await errorOf(engine.settle(row));
    expect([err.status, err.error]).toEqual([httpStatus, code]);
    expect(store.rows.get(row.id)).toMatchObject({ status: ended, terminalAt: new Date(clock.now()) });
  });

  it.each([
    ['denied', 403, 'denied'],
    ['abandoned', 403, 'abandoned'],
    ['expired', 408, 'expired'],
    ['failed', 500, 'server_error'],
  ])('answers a %s record with %i %s once, then 410', async (status, httpStatus, code) => {
    const { engine, store, add } = setup();
    const row = add({ status });
    const err = await errorOf(engine.settle(row));
    expect([err.status, err.error]).toEqual([httpStatus, code]);
    const again = await errorOf(engine.settle((await store.find(row.id))!));
    expect([again.status, again.error]).toEqual([410, 'gone']);
  });

  it('returns open and approved records to the caller', async () => {
    const { engine, add } = setup();
    expect((await engine.settle(add({ status: 'interacting' }))).status).toBe('interacting');
    expect((await engine.settle(add({ status: 'approved' }))).status).toBe('approved');
  });

  it('long-polls until the status changes, and no longer than maxWaitSeconds', async () => {
    let slept = 0;
    const { engine, store, add } = setup(async (ms) => {
      slept += ms;
      if (slept === 1000) store.rows.get(row.id)!.status = 'approved';
    });
    const row = add();
    expect((await engine.awaitChange(row, 5)).status).toBe('approved');
    expect(slept).toBe(1000);
    slept = -1_000_000;
    const other = add();
    expect(await engine.awaitChange(other, 0)).toBe(other);
    expect((await engine.awaitChange(other, 3600)).status).toBe('pending');
    expect(slept).toBe(-1_000_000 + 30_000);
  });

  it('offers the interaction code only until it is opened', async () => {
    const { engine, add } = setup();
    const row = add();
    expect(engine.offeredRequirement(row)).toEqual({
      requirement: 'interaction',
      url: 'https://ps.example/interaction',
      code: displayInteractionCode(row.interactionCode!),
    });
    expect(engine.offeredRequirement({ ...row, status: 'interacting' })).toBeUndefined();
  });
});

describe('enforcePollPace (§Deferred Responses: slow_down)', () => {
  const polled: [string, number][] = [];
  const mark = async (id: string, at: Date) => {
    polled.push([id, at.getTime()]);
  };
  const record = { id: 'p1', retryAfter: 2, lastPolledAt: new Date(10_000) };

  it('answers a poll sooner than Retry-After allows with slow_down, Retry-After + 5, and counts it as a poll', async () => {
    polled.length = 0;
    const err = await enforcePollPace(record, new Date(11_000), mark).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AAuthError);
    expect((err as AAuthError).error).toBe('slow_down');
    expect((err as AAuthError).headers).toMatchObject({ 'retry-after': '7' });
    expect(polled).toEqual([['p1', 11_000]]);
  });

  it('lets a poll at the interval (less its tolerance) through without marking it', async () => {
    polled.length = 0;
    await enforcePollPace(record, new Date(11_500), mark);
    await enforcePollPace({ ...record, lastPolledAt: null }, new Date(10_001), mark);
    expect(polled).toEqual([]);
  });
});

describe('interaction code entry (§Interaction Code Format)', () => {
  function limiter() {
    const counts = new Map<string, number>();
    return {
      counts,
      async check(key: string) {
        const allowed = (counts.get(key) ?? 0) < 2;
        return { allowed, remaining: allowed ? 1 : 0, retryAfterSeconds: 0 };
      },
      async record(key: string) {
        counts.set(key, (counts.get(key) ?? 0) + 1);
      },
      async reset(key: string) {
        counts.delete(key);
      },
    };
  }

  function setupEntry() {
    const base = setup();
    const perPerson = limiter();
    const source = {
      lookupCode: base.engine.lookupCode,
      consumeCode: base.engine.consumeCode,
      async findInteraction(id: string, holderId: string) {
        const row = await base.store.find(id);
        return row?.holder === holderId && row.status === 'interacting' ? row : undefined;
      },
    };
    const entry = createInteractionCodeEntry(source, createCodeAttemptGuard(perPerson, limiter()));
    return { ...base, entry, perPerson };
  }

  it('consumes a code once; its holder may come back, anyone else is refused and counted', async () => {
    const { entry, add, perPerson } = setupEntry();
    const row = add();
    const code = displayInteractionCode(row.interactionCode!).toLowerCase();
    const found = await entry.resolve(code, 'alice', '192.0.2.1');
    expect(found.kind).toBe('open');
    expect(await entry.claim(row, 'alice', null)).toMatchObject({ id: row.id, holder: 'alice' });
    expect(await entry.claim(row, 'bob', null)).toBeUndefined();
    expect((await entry.resolve(code, 'alice', '192.0.2.1')).kind).toBe('held');
    expect((await entry.resolve(code, 'bob', '192.0.2.2')).kind).toBe('invalid_code');
    expect(perPerson.counts.get('bob')).toBe(1);
  });

  it('says expired for a live code past its time, and throttles after repeated failures', async () => {
    const { entry, add, clock } = setupEntry();
    const row = add();
    clock.advance(600_000);
    expect((await entry.resolve(row.interactionCode!, 'alice', '192.0.2.1')).kind).toBe('expired');
    expect((await entry.resolve('ZZZZ-ZZZZ', 'carol', '192.0.2.3')).kind).toBe('invalid_code');
    expect((await entry.resolve('ZZZZ-ZZZZ', 'carol', '192.0.2.3')).kind).toBe('invalid_code');
    expect((await entry.resolve(row.interactionCode!, 'carol', '192.0.2.3')).kind).toBe('throttled');
  });
});
