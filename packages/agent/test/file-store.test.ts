import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportPrivateJwk, generateKeyPair } from '@aauth-ref/core';
import { afterEach, describe, expect, it } from 'vitest';
import { createFileStore, defaultStateDirectory } from '../src/index.js';

const created: string[] = [];
afterEach(async () => {
  await Promise.all(created.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('file store', () => {
  it('creates the directory 0700 and every key and token file 0600', async () => {
    const root = await mkdtemp(join(tmpdir(), 'aauth-store-'));
    created.push(root);
    const dir = join(root, 'state');
    const store = createFileStore(dir);
    const key = exportPrivateJwk(generateKeyPair());
    await store.write('durable-key', key);
    await store.write('agent-token', { agent_token: 'a.b.c', expires_at: 1 });
    await store.write('sessions', { 'https://r.example': 'tok' });
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    for (const file of await readdir(dir)) expect((await stat(join(dir, file))).mode & 0o777).toBe(0o600);
    expect(await store.read('durable-key')).toEqual(key);
    expect(await store.read('ephemeral-key')).toBeUndefined();
    await store.clear();
    expect(await readdir(dir)).toEqual([]);
  });

  it('lives under AAUTH_HOME, else ~/.aauth', () => {
    expect(defaultStateDirectory({ AAUTH_HOME: '/tmp/x' })).toBe('/tmp/x');
    expect(defaultStateDirectory({})).toMatch(/\.aauth$/);
  });
});
