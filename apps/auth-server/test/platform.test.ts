import { join } from 'node:path';
import { DWK } from '@aauth-ref/core';
import { diffSchemaAgainstMigrations } from '@aauth-ref/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS_DIR } from '../src/app.js';
import { AS_ISSUER, startTestApp, type TestApp } from './support/app-harness.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.close();
});

describe('metadata and keys (§Access Server Metadata)', () => {
  it('publishes aauth-access.json with the implemented endpoints', async () => {
    const res = await t.app.inject({ method: 'GET', url: `/.well-known/${DWK.access}` });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      issuer: AS_ISSUER,
      name: expect.any(String),
      description: expect.any(String),
      auth_token_endpoint: `${AS_ISSUER}/token`,
      revocation_endpoint: `${AS_ISSUER}/revoke`,
      jwks_uri: `${AS_ISSUER}/.well-known/jwks.json`,
    });
  });

  it('serves the JWKS with public members only', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
    expect(res.statusCode).toBe(200);
    const { keys } = res.json() as { keys: Record<string, unknown>[] };
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) {
      expect(key.d).toBeUndefined();
      expect(key.alg).toBe('Ed25519');
      expect(typeof key.kid).toBe('string');
    }
    expect(keys[0]!.x).toBe(t.keys.active.jwk.x);
  });
});

describe('health', () => {
  it('/healthz is alive and /readyz checks the database and migrations', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    const ready = await t.app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200);
  });
});

describe('database schema', () => {
  it('the committed migrations produce prisma/schema.prisma exactly', async () => {
    const schemaPath = join(MIGRATIONS_DIR, '..', 'schema.prisma');
    expect(await diffSchemaAgainstMigrations({ schemaPath, migrationsDir: MIGRATIONS_DIR })).toBe('');
  });
});
