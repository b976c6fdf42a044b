import { fileURLToPath } from 'node:url';
import { createLocalKeyResolver, createTokenVerifier, DEV, DWK } from '@aauth-ref/core';
import { diffSchemaAgainstMigrations } from '@aauth-ref/db';
import { ConfigError } from '@aauth-ref/fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS_DIR } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { ISSUER, newAgent, personToken, send, startTestApp, type TestApp } from './support/app-harness.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.close();
});

describe('resource metadata (§Resource Metadata)', () => {
  it('publishes the resource document at /.well-known/aauth-resource.json', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/.well-known/aauth-resource.json' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      issuer: ISSUER,
      jwks_uri: `${ISSUER}/.well-known/jwks.json`,
      name: 'AAuth Reference Notes',
      description: expect.stringContaining('**AAuth Reference Notes**'),
      access_mode: 'auth-token',
      authorization_endpoint: `${ISSUER}/authorize`,
      scope_descriptions: {
        'notes.read': 'Read the notes in your notebooks',
        'notes.write': 'Add notes to your notebooks',
      },
      signature_window: 60,
      additional_signature_components: ['content-type', 'content-digest'],
      revocation_endpoint: `${ISSUER}/revoke`,
      r3_vocabularies: {
        'urn:aauth:vocabulary:mcp': `${ISSUER}/mcp`,
        'urn:aauth:vocabulary:openapi': `${ISSUER}/openapi.json`,
      },
    });
  });

  it('serves the public signing keys, active first, without private members', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
    expect(response.statusCode).toBe(200);
    const { keys } = response.json() as { keys: Record<string, string>[] };
    expect(keys).toHaveLength(1);
    expect(keys[0]!.kid).toBe(t.keys.active.kid);
    expect(keys[0]!.alg).toBe('Ed25519');
    expect(keys[0]).not.toHaveProperty('d');
    expect(keys[0]).not.toHaveProperty('status');
  });

  it('issues resource tokens a PS can verify with the published keys (§Resource Token Verification)', async () => {
    const agent = newAgent(t);
    const response = await send(t, {
      method: 'POST',
      path: '/authorize',
      key: agent.key,
      signatureKey: personToken(t, agent.key),
      body: { scope: 'notes.read' },
    });
    expect(response.statusCode).toBe(200);
    const document = (await t.app.inject({ method: 'GET', url: '/.well-known/aauth-resource.json' })).json();
    const jwks = (await t.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json() as {
      keys: Record<string, string>[];
    };
    expect(jwks.keys[0]!.kid).toBe(t.keys.active.kid);
    const verifier = createTokenVerifier({
      clock: t.clock,
      keys: createLocalKeyResolver([
        { issuer: ISSUER, dwk: DWK.resource, keys: t.keys.published, metadata: document },
      ]),
      identifierPolicy: DEV,
    });
    const verified = await verifier.verify(response.json().resource_token, {
      kinds: ['resource'],
      audience: t.ps.issuer,
    });
    expect(verified.header.kid).toBe(t.keys.active.kid);
  });

  it('answers /healthz and /readyz', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
    const ready = await t.app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: 'ok' });
  });
});

describe('database', () => {
  it('the committed migrations produce prisma/schema.prisma', async () => {
    const schemaPath = fileURLToPath(new URL('../prisma/schema.prisma', import.meta.url));
    expect(await diffSchemaAgainstMigrations({ schemaPath, migrationsDir: MIGRATIONS_DIR })).toBe('');
  }, 60_000);
});

describe('configuration', () => {
  const base = { AAUTH_DEV: '1', DATA_DIR: '/tmp/rs-config-test' };

  it('defaults: dev issuer on port 3003, PERSON_SERVER_TRUST=verified, no access server', () => {
    const config = loadConfig(base);
    expect(config.ISSUER).toBe('http://localhost:3003');
    expect(config.PORT).toBe(3003);
    expect(config.PERSON_SERVER_TRUST).toEqual({ mode: 'verified' });
    expect(config.ACCESS_SERVER).toBeUndefined();
    expect(Object.keys(config.SCOPES)).toEqual(['notes.read', 'notes.write']);
  });

  it('reads a list of trusted Person Servers and an access server', () => {
    const config = loadConfig({
      ...base,
      PERSON_SERVER_TRUST: 'https://ps.example, http://localhost:3001',
      ACCESS_SERVER: 'https://as.example',
      ACCESS_SERVER_SCOPES: 'notes.write',
    });
    expect(config.PERSON_SERVER_TRUST).toEqual({
      mode: 'list',
      issuers: new Set(['https://ps.example', 'http://localhost:3001']),
    });
    expect(config.ACCESS_SERVER).toBe('https://as.example');
    expect(config.ACCESS_SERVER_SCOPES).toEqual(['notes.write']);
  });

  it('refuses bad values, listing every problem', () => {
    let error: unknown;
    try {
      loadConfig({
        ...base,
        PERSON_SERVER_TRUST: 'https://ps.example/path',
        ACCESS_SERVER: 'not a url',
        SCOPES: '{"notes.read":"Read"}',
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toMatch(/PERSON_SERVER_TRUST: not server identifiers/);
    expect(problems).toMatch(/ACCESS_SERVER: .* is not a server identifier/);
    expect(problems).toMatch(/SCOPES: must describe notes.write/);
  });

  it('refuses a development access server identifier in strict mode', () => {
    expect(() =>
      loadConfig({
        DATA_DIR: '/tmp/rs-config-test',
        ISSUER: 'https://resource.example',
        SIGNING_KEYS: '{"keys":[]}',
        ACCESS_SERVER: 'http://localhost:3002',
      }),
    ).toThrow(/ACCESS_SERVER/);
  });
});
