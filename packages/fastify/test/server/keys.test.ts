import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportPrivateJwk, generateKeyPair, signBytes, verifyBytes } from '@aauth-ref/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ConfigError,
  createKeyRing,
  DEV_KEYS_FILE,
  generateSigningKeysJwks,
  loadKeyRing,
} from '../../src/index.js';
import { runGenerateSigningKeys } from '../../src/server/generate-signing-keys.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aauth-keys-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function key(status?: string, alg: 'Ed25519' | 'ES256' = 'Ed25519', kid?: string) {
  const jwk = exportPrivateJwk(generateKeyPair(alg, kid));
  return status === undefined ? jwk : { ...jwk, status };
}

function problemsOf(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('createKeyRing', () => {
  it('signs with the one active key and publishes active, next, retired in that order', () => {
    const retired = key('retired', 'Ed25519', 'old');
    const next = key('next', 'ES256', 'new');
    const active = key('active', 'Ed25519', 'now');
    const ring = createKeyRing({ keys: [retired, next, active] });
    expect(ring.active.kid).toBe('now');
    expect(ring.published.map((k) => k.kid)).toEqual(['now', 'new', 'old']);
    expect(ring.statusOf('new')).toBe('next');
    expect(ring.statusOf('old')).toBe('retired');
    expect(ring.statusOf('nope')).toBeUndefined();
    const signature = signBytes(ring.active, Buffer.from('x'));
    expect(verifyBytes(ring.active, Buffer.from('x'), signature)).toBe(true);
  });

  it('treats a key without status as active', () => {
    expect(createKeyRing({ keys: [key(undefined, 'ES256', 'k1')] }).active.kid).toBe('k1');
  });

  it('publishes public members only: never d, never status (§JWKS Discovery and Caching)', () => {
    const ring = createKeyRing({ keys: [key('active', 'ES256', 'a'), key('retired', 'Ed25519', 'r')] });
    const jwks = ring.jwks();
    expect(jwks.keys).toHaveLength(2);
    for (const jwk of jwks.keys) {
      expect(Object.keys(jwk).sort()).toEqual(
        jwk.kty === 'EC' ? ['alg', 'crv', 'kid', 'kty', 'x', 'y'] : ['alg', 'crv', 'kid', 'kty', 'x'],
      );
    }
    expect(JSON.stringify(jwks)).not.toMatch(/"d"|status/);
    // Mutating one copy does not change what the next request serves.
    jwks.keys.pop();
    expect(ring.jwks().keys).toHaveLength(2);
  });

  it('refuses zero or several active keys', () => {
    expect(problemsOf(() => createKeyRing({ keys: [key('next'), key('retired')] }))).toEqual([
      'no key has status "active" (exactly one key signs)',
    ]);
    const two = problemsOf(() =>
      createKeyRing({ keys: [key('active', 'Ed25519', 'a'), key(undefined, 'Ed25519', 'b')] }),
    );
    expect(two).toEqual(['2 keys are "active" (kids a, b); exactly one key signs']);
  });

  it('lists every malformed key without echoing key material', () => {
    const good = key('active', 'Ed25519', 'good');
    const noD = { ...key('next', 'Ed25519', 'nod'), d: undefined };
    const badStatus = key('primary', 'Ed25519', 'bad');
    const eddsa = { ...key('retired', 'Ed25519', 'eddsa'), alg: 'EdDSA' };
    const duplicate = key('retired', 'Ed25519', 'good');
    const noKid = { ...key('retired'), kid: undefined };
    const secret = key('retired', 'Ed25519', 'wrongd');
    const wrongD = { ...secret, d: 'AAAA' };
    let error: ConfigError | undefined;
    try {
      createKeyRing({ keys: [good, noD, badStatus, eddsa, duplicate, noKid, 'x', wrongD] }, 'SIGNING_KEYS');
    } catch (err) {
      error = err as ConfigError;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(error!.problems).toEqual([
      'keys[1] (kid nod): no private member "d"',
      'keys[2]: status must be one of active, next, retired',
      'keys[3] (kid eddsa): alg EdDSA is not fully specified or is prohibited',
      'keys[4]: kid good appears twice',
      'keys[5]: every signing key needs a "kid"',
      'keys[6]: not a JSON object',
      'keys[7] (kid wrongd): private JWK is not a valid key',
    ]);
    expect(error!.message).toMatch(/^SIGNING_KEYS is not a usable signing JWKS:\n/);
    expect(error!.message).not.toContain(good.d);
  });

  it.each([[null], [[]], [{}], [{ keys: {} }], [{ keys: [] }]])('refuses a non-JWKS %j', (input) => {
    expect(() => createKeyRing(input)).toThrow(ConfigError);
  });
});

describe('loadKeyRing', () => {
  it('reads SIGNING_KEYS as JSON text', async () => {
    const jwks = generateSigningKeysJwks({ kid: 'inline' });
    const ring = await loadKeyRing({ SIGNING_KEYS: JSON.stringify(jwks), DATA_DIR: dir, AAUTH_DEV: false });
    expect(ring.active.kid).toBe('inline');
  });

  it('reads SIGNING_KEYS as a path, relative to cwd', async () => {
    await writeFile(
      join(dir, 'keys.json'),
      JSON.stringify(generateSigningKeysJwks({ kid: 'file', alg: 'ES256' })),
    );
    const ring = await loadKeyRing({ SIGNING_KEYS: 'keys.json', DATA_DIR: dir, AAUTH_DEV: false, cwd: dir });
    expect(ring.active.kid).toBe('file');
    expect(ring.active.alg).toBe('ES256');
  });

  it('reports a missing file or invalid JSON clearly, without the JSON parser message', async () => {
    await expect(
      loadKeyRing({ SIGNING_KEYS: join(dir, 'absent.json'), DATA_DIR: dir, AAUTH_DEV: false }),
    ).rejects.toThrow(
      `SIGNING_KEYS file ${join(dir, 'absent.json')} cannot be read:\n  - ${join(dir, 'absent.json')}: ENOENT`,
    );
    await expect(
      loadKeyRing({ SIGNING_KEYS: '{"keys": [{"d": "c2VjcmV0"', DATA_DIR: dir, AAUTH_DEV: false }),
    ).rejects.toThrow(/^SIGNING_KEYS is not a usable signing JWKS:\n {2}- not valid JSON$/);
  });

  it('refuses to start without SIGNING_KEYS in strict mode, even when a dev key file exists', async () => {
    await loadKeyRing({ SIGNING_KEYS: undefined, DATA_DIR: dir, AAUTH_DEV: true });
    const attempt = loadKeyRing({ SIGNING_KEYS: undefined, DATA_DIR: dir, AAUTH_DEV: false });
    await expect(attempt).rejects.toBeInstanceOf(ConfigError);
    await expect(attempt).rejects.toThrow(/SIGNING_KEYS is required in strict mode/);
  });

  it('generates one Ed25519 key in dev mode, stores it 0600, and reuses it on restart', async () => {
    const dataDir = join(dir, 'nested', 'data');
    const generated: string[] = [];
    const first = await loadKeyRing({
      SIGNING_KEYS: undefined,
      DATA_DIR: dataDir,
      AAUTH_DEV: true,
      onGenerated: (path) => generated.push(path),
    });
    const path = join(dataDir, DEV_KEYS_FILE);
    expect(generated).toEqual([path]);
    expect(first.active.alg).toBe('Ed25519');
    expect(first.published).toHaveLength(1);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const stored = JSON.parse(await readFile(path, 'utf8'));
    expect(stored.keys[0]).toMatchObject({ kid: first.active.kid, status: 'active', alg: 'Ed25519' });
    expect(typeof stored.keys[0].d).toBe('string');

    const second = await loadKeyRing({
      SIGNING_KEYS: undefined,
      DATA_DIR: dataDir,
      AAUTH_DEV: true,
      onGenerated: (p) => generated.push(p),
    });
    expect(generated).toHaveLength(1);
    expect(second.active.thumbprint).toBe(first.active.thumbprint);
  });

  it('tightens a dev key file that was left readable by others', async () => {
    await writeFile(join(dir, DEV_KEYS_FILE), JSON.stringify(generateSigningKeysJwks()), { mode: 0o644 });
    await loadKeyRing({ SIGNING_KEYS: undefined, DATA_DIR: dir, AAUTH_DEV: true });
    expect((await stat(join(dir, DEV_KEYS_FILE))).mode & 0o777).toBe(0o600);
  });
});

describe('generateSigningKeysJwks', () => {
  it('produces a JWKS the key ring accepts, with the requested alg and status', () => {
    const jwks = generateSigningKeysJwks({ alg: 'ES256', status: 'next' });
    expect(jwks.keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', status: 'next' });
    const ring = createKeyRing({ keys: [...generateSigningKeysJwks().keys, ...jwks.keys] });
    expect(ring.published).toHaveLength(2);
  });

  it('backs the operator command', () => {
    const out = JSON.parse(runGenerateSigningKeys(['--alg', 'ES256', '--status', 'retired', '--kid', 'k9']));
    expect(out.keys[0]).toMatchObject({ alg: 'ES256', status: 'retired', kid: 'k9' });
    expect(() => runGenerateSigningKeys(['--alg', 'EdDSA'])).toThrow('--alg must be Ed25519 or ES256');
    expect(() => runGenerateSigningKeys(['--status', 'primary'])).toThrow(/--status must be one of/);
  });
});
