import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabaseReplayCache, type Database, openDatabase } from '../src/index.js';

describe('createDatabaseReplayCache (§Freshness and Replay)', () => {
  let db: Database;
  let now = Date.UTC(2026, 10, 29, 12);
  const clock = { now: () => now };

  beforeAll(async () => {
    db = await openDatabase({ memory: true });
    await db.exec('CREATE TABLE replay_entry (key text PRIMARY KEY, expires_at timestamptz(3) NOT NULL)');
  });
  afterAll(async () => {
    await db.close();
  });

  it('accepts a key once while it is live, and again after it expired', async () => {
    const cache = createDatabaseReplayCache(db, clock);
    expect(await cache.consume('k1', now + 61_000)).toBe(true);
    expect(await cache.consume('k1', now + 61_000)).toBe(false);
    expect(await cache.consume('k2', now + 61_000)).toBe(true);
    now += 62_000;
    expect(await cache.consume('k1', now + 61_000)).toBe(true);
  });

  it('purges expired rows so the table stays bounded', async () => {
    const cache = createDatabaseReplayCache(db, clock);
    await cache.consume('old', now + 1_000);
    now += 120_000;
    await cache.consume('new', now + 61_000);
    const rows = await db.exec<{ key: string }>('SELECT key FROM replay_entry ORDER BY key');
    expect(rows.map((r) => r.key)).toEqual(['new']);
  });
});
