import { spawnSync } from 'node:child_process';
import { createPrivateKey, createPublicKey, type JsonWebKey, sign, verify } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { requiredVariables } from '../src/env-reference.js';
import { isRecord, readRepoFile, readYaml } from '../src/files.js';
import { COMPOSE_SERVERS, REPO_ROOT } from '../src/servers.js';
import { documentedReferences, toEnvRecord } from './support.js';

/** `aauth-keys` (bin of @aauth-ref/fastify): generates a key ring; the compose keys job uses it. */

const fastifyPackage = JSON.parse(readRepoFile('packages/fastify/package.json')) as {
  bin?: Record<string, string>;
  files?: string[];
};
const BIN = fastifyPackage.bin?.['aauth-keys'] ?? '';
const BIN_PATH = `${REPO_ROOT}packages/fastify/${BIN.replace(/^\.\//, '')}`;
const work = mkdtempSync(join(tmpdir(), 'aauth-keys-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Runs the bin from the TypeScript source (the workspace is not built), as `aauth-keys …`. */
function runKeys(args: string[]) {
  const result = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', BIN_PATH, ...args], {
    cwd: `${REPO_ROOT}packages/deploy-check`,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '' },
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

type RingKey = JsonWebKey & { kid?: string; status?: string; alg?: string };

function keysOf(text: string): RingKey[] {
  const jwks = JSON.parse(text) as { keys?: RingKey[] };
  expect(Array.isArray(jwks.keys)).toBe(true);
  return jwks.keys ?? [];
}

/** The private half signs and the public half (private members dropped) verifies. */
function expectWorkingPair(key: RingKey) {
  const { d: _d, status: _status, ...publicJwk } = key;
  const data = Buffer.from('aauth-keys');
  const hash = key.kty === 'OKP' ? null : 'sha256';
  const signature = sign(hash, data, createPrivateKey({ key, format: 'jwk' }));
  expect(verify(hash, data, createPublicKey({ key: publicJwk, format: 'jwk' }), signature)).toBe(true);
}

describe('aauth-keys (packages/fastify bin)', () => {
  it('is declared as a bin and shipped with the package', () => {
    expect(BIN).toBe('./bin/aauth-keys.js');
    expect(fastifyPackage.files).toEqual(expect.arrayContaining(['bin', 'dist']));
    expect(readFileSync(BIN_PATH, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
    expect(statSync(BIN_PATH).mode & 0o111).not.toBe(0);
    // It reuses the generator of the server kit, built or from source.
    expect(readFileSync(BIN_PATH, 'utf8')).toContain('server/generate-signing-keys');
  });

  it('prints a one-key Ed25519 ring, status active, by default', () => {
    const result = runKeys([]);
    expect(result.status, result.stderr).toBe(0);
    const [key, ...rest] = keysOf(result.stdout);
    expect(rest).toEqual([]);
    expect(key).toMatchObject({ kty: 'OKP', crv: 'Ed25519', status: 'active' });
    expect(typeof key?.kid).toBe('string');
    expect(typeof key?.d).toBe('string');
    expectWorkingPair(key as RingKey);
  });

  it('generates the next key of a rotation (--status next, --alg ES256, --kid)', () => {
    const result = runKeys(['--alg', 'ES256', '--status', 'next', '--kid', 'rotation-2']);
    expect(result.status, result.stderr).toBe(0);
    const [key] = keysOf(result.stdout);
    expect(key).toMatchObject({ kty: 'EC', crv: 'P-256', status: 'next', kid: 'rotation-2' });
    expectWorkingPair(key as RingKey);
  });

  it('--out writes the file 0600 once and never overwrites a ring', () => {
    const file = join(work, 'signing-keys.json');
    const first = runKeys(['--out', file]);
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toBe('');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const written = readFileSync(file, 'utf8');
    expect(keysOf(written)).toHaveLength(1);
    const second = runKeys(['--out', file]);
    expect(second.status).toBe(0);
    expect(second.stderr).toMatch(/kept/);
    expect(readFileSync(file, 'utf8')).toBe(written);
    // An empty file (a fresh mount) is filled.
    const empty = join(work, 'empty.json');
    writeFileSync(empty, '');
    expect(runKeys(['--out', empty]).status).toBe(0);
    expect(keysOf(readFileSync(empty, 'utf8'))).toHaveLength(1);
  });

  it('refuses an unknown algorithm or status with exit 2 and prints no key', () => {
    for (const args of [
      ['--alg', 'RS256'],
      ['--status', 'primary'],
    ]) {
      const result = runKeys(args);
      expect(result.status).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(/must be/);
    }
  });
});

describe('the compose keys job', () => {
  const compose = readYaml('docker-compose.yml');
  if (!isRecord(compose) || !isRecord(compose.services))
    throw new Error('docker-compose.yml has no services');
  const services = compose.services as Record<string, Record<string, unknown>>;
  const job = services.keys ?? {};
  const script = String(((job.command ?? []) as string[])[0]);
  const references = documentedReferences();

  function mounts(service: Record<string, unknown>) {
    return ((service.volumes as unknown[] | undefined) ?? []).map((entry) => {
      const [source = '', target = ''] = String(entry).split(':');
      return { source, target };
    });
  }

  it('generates every key ring with aauth-keys --out from the deployed package', () => {
    expect(script).toContain(`node /app/node_modules/@aauth-ref/fastify/${BIN.slice(2)}`);
    expect(script).toMatch(/aauth-keys\.js --alg Ed25519 --status active --out "\$\$file"/);
    expect(job.network_mode).toBe('none');
  });

  it.each(COMPOSE_SERVERS)(
    "fills every key file $service reads, on $service's own volume",
    ({ service, app }) => {
      const env = toEnvRecord(services[service]?.environment);
      const keysMount = mounts(services[service] ?? {}).find((m) => m.source.endsWith('-keys'));
      const jobMount = mounts(job).find((m) => m.source === keysMount?.source);
      expect(jobMount, `the keys job mounts ${keysMount?.source}`).toBeDefined();
      const reference = references.get(app);
      if (!reference) throw new Error(`no reference for ${app}`);
      const keyVars = requiredVariables(reference).filter((name) => name.endsWith('SIGNING_KEYS'));
      expect(keyVars.length).toBeGreaterThan(0);
      for (const name of keyVars) {
        const file = env[name]?.slice(`${keysMount?.target}/`.length);
        expect(script).toContain(`${jobMount?.target}/${file}`);
      }
    },
  );

  it('is documented with the rotation procedure in infra/README.md', () => {
    const readme = readRepoFile('infra/README.md');
    expect(readme).toContain('aauth-keys --status next');
    expect(readme).toMatch(/next.+active.+retired/s);
  });
});
