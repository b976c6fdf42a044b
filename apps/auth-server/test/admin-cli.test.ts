import { randomUUID } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalKeyResolver, type OutboundRequest } from '@aauth-ref/core';
import { type AdminIo, EXIT } from '@aauth-ref/fastify/admin-cli';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runAsAdminCli } from '../src/admin/cli.js';
import { createAsAdminSession } from '../src/admin/session.js';
import {
  AS_ISSUER,
  decodePayload,
  makeRequestTokens,
  RESOURCE,
  sendAsPs,
  startTestApp,
  type TestApp,
} from './support/app-harness.js';
import { createBrowser } from './support/browser.js';

/** `aauth-as-admin` driven in-process over the test AS's own database, stdin/stdout injected. */

let t: TestApp;
const sent: OutboundRequest[] = [];
let resourceStatus = 200;

beforeAll(async () => {
  t = await startTestApp({
    policy: { resources: { [RESOURCE]: { rules: [{ scopes: ['read'], effect: 'grant' }] } } },
  });
});
afterAll(async () => {
  await t?.close();
});
beforeEach(() => {
  sent.length = 0;
  resourceStatus = 200;
});

interface CliResult {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

async function cli(argv: string[], stdin = ''): Promise<CliResult> {
  let out = '';
  let err = '';
  const io: AdminIo = {
    stdin: (async function* () {
      if (stdin !== '') yield Buffer.from(stdin, 'utf8');
    })(),
    stdout: { write: (text: string) => (out += text) },
    stderr: { write: (text: string) => (err += text) },
  };
  const code = await runAsAdminCli(argv, io, async () =>
    createAsAdminSession({
      config: t.config,
      prisma: t.prisma,
      keys: t.keys,
      clock: t.clock,
      remoteKeys: createLocalKeyResolver(Object.values(t.parties)),
      outboundFetch: async (request) => {
        sent.push(request);
        return { status: resourceStatus };
      },
    }),
  );
  return { code, out, err };
}

async function issueToken(): Promise<string> {
  const res = await sendAsPs(t, {
    method: 'POST',
    path: '/token',
    body: makeRequestTokens(t, { scope: 'read' }).body,
  });
  expect(res.statusCode).toBe(200);
  return decodePayload(res.json().auth_token).jti as string;
}

describe('aauth-as-admin users', () => {
  it('users create --admin: the account signs in through the real sign-in route and may open /admin; the password is never printed', async () => {
    const password = 'root-admin-password';
    const res = await cli(
      ['users', 'create', 'root', '--name', 'Root Admin', '--admin', '--password-stdin'],
      `${password}\n`,
    );
    expect(res).toEqual({ code: EXIT.ok, out: 'created the administrator root\n', err: '' });
    const browser = createBrowser(t.app);
    await browser.signIn('root', password);
    expect((await browser.get('/admin')).statusCode).toBe(200);

    await cli(['users', 'create', 'plain', '--name', 'Plain', '--password-stdin'], 'plain-password-1');
    const plain = createBrowser(t.app);
    await plain.signIn('plain', 'plain-password-1');
    expect((await plain.get('/admin')).statusCode).toBe(403);
  });

  it('users create: a duplicate username is exit 3 with a message; a password argument is exit 1', async () => {
    const dup = await cli(
      ['users', 'create', 'root', '--name', 'Again', '--password-stdin'],
      'other-password-1',
    );
    expect(dup.code).toBe(EXIT.conflict);
    expect(dup.err).toContain('an account named root exists already');
    expect(`${dup.out}${dup.err}`).not.toContain('other-password-1');
    const argument = await cli(['users', 'create', 'x', '--name', 'X', '--password', 'x-password-12']);
    expect(argument.code).toBe(EXIT.usage);
    expect(argument.err).not.toContain('x-password-12');
    expect(await t.prisma.asPerson.findUnique({ where: { username: 'x' } })).toBeNull();
  });

  it('users list --json parses and carries no password hash; set-password replaces it', async () => {
    const res = await cli(['users', 'list', '--json']);
    expect(res.code).toBe(EXIT.ok);
    const accounts = JSON.parse(res.out) as Record<string, unknown>[];
    expect(accounts.find((a) => a.username === 'root')).toEqual({
      username: 'root',
      displayName: 'Root Admin',
      isAdmin: true,
      createdAt: expect.any(String),
    });
    expect(res.out).not.toContain('scrypt');
    const changed = await cli(['users', 'set-password', 'plain', '--password-stdin'], 'plain-password-2');
    expect(changed.code).toBe(EXIT.ok);
    await expect(createBrowser(t.app).signIn('plain', 'plain-password-1')).rejects.toThrow('401');
    await createBrowser(t.app).signIn('plain', 'plain-password-2');
    expect((await cli(['users', 'set-password', 'nobody', '--password-stdin'], 'whatever-1')).code).toBe(
      EXIT.notFound,
    );
  });
});

describe('aauth-as-admin tokens and bindings', () => {
  it('tokens revoke: marks the token revoked and calls the resource revocation_endpoint signed as the AS (§Token Revocation)', async () => {
    const jti = await issueToken();
    const listed = JSON.parse((await cli(['tokens', 'list', '--json'])).out) as Record<string, unknown>[];
    expect(listed.find((token) => token.jti === jti)).toMatchObject({ aud: RESOURCE, revokedAt: null });

    const res = await cli(['tokens', 'revoke', jti]);
    expect(res.code).toBe(EXIT.ok);
    expect(res.out).toBe(`revoked the auth token ${jti}\nits resource was notified (HTTP 200)\n`);
    expect((await t.prisma.issuedAuthToken.findUniqueOrThrow({ where: { jti } })).revokedAt).not.toBeNull();
    expect(
      await t.prisma.revocation.findUnique({ where: { iss_jti: { iss: AS_ISSUER, jti } } }),
    ).not.toBeNull();
    expect(sent).toHaveLength(1);
    expect(sent[0]!.url).toBe(`${RESOURCE}/revoke`);
    expect(JSON.parse(sent[0]!.body.toString('utf8'))).toEqual({ iss: AS_ISSUER, jti });
    expect(sent[0]!.headers['signature-key']).toBe(
      `sig=jwks_uri;id="${AS_ISSUER}";dwk="aauth-access.json";kid="${t.keys.active.kid}"`,
    );
    const after = JSON.parse((await cli(['tokens', 'list', '--json'])).out) as Record<string, unknown>[];
    expect(after.find((token) => token.jti === jti)?.revokedAt).toEqual(expect.any(String));
  });

  it('tokens revoke: an unknown jti is exit 2; a resource that refuses the notice is exit 5 (revoked here)', async () => {
    const unknown = await cli(['tokens', 'revoke', 'no-such-jti']);
    expect(unknown.code).toBe(EXIT.notFound);
    expect(unknown.err).toContain('no auth token no-such-jti was issued here');
    expect(sent).toHaveLength(0);

    resourceStatus = 503;
    const jti = await issueToken();
    const res = await cli(['tokens', 'revoke', jti]);
    expect(res.code).toBe(EXIT.partial);
    expect(res.err).toContain('could not be notified (status HTTP 503)');
    expect((await t.prisma.issuedAuthToken.findUniqueOrThrow({ where: { jti } })).revokedAt).not.toBeNull();
  });

  it('bindings list --json and bindings revoke <ps> <sub>; an unknown or revoked binding is exit 2', async () => {
    const account = await t.prisma.asPerson.findUniqueOrThrow({ where: { username: 'root' } });
    const sub = `sub-${randomUUID()}`;
    await t.prisma.psBinding.create({
      data: { id: randomUUID(), ps: 'https://ps.example', sub, personId: account.id },
    });
    const listed = JSON.parse((await cli(['bindings', 'list', '--json'])).out) as Record<string, unknown>[];
    expect(listed.find((b) => b.sub === sub)).toMatchObject({
      ps: 'https://ps.example',
      username: 'root',
      revokedAt: null,
    });

    const res = await cli(['bindings', 'revoke', 'https://ps.example', sub]);
    expect(res.code).toBe(EXIT.ok);
    expect(res.out).toContain(`revoked the binding of ${sub} at https://ps.example`);
    const row = await t.prisma.psBinding.findFirstOrThrow({ where: { sub } });
    expect(row.revokedAt).not.toBeNull();
    expect((await cli(['bindings', 'revoke', 'https://ps.example', sub])).code).toBe(EXIT.notFound);
    expect((await cli(['bindings', 'revoke', 'https://ps.example'])).code).toBe(EXIT.usage);
  });
});

describe('aauth-as-admin policy', () => {
  it('policy load stores a file as POLICY_FILE does; policy show prints it back as a document', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'as-admin-'));
    const file = join(dir, 'policy.json');
    const document = {
      trusted_person_servers: ['https://ps.example'],
      resources: {
        'https://files.example': { fallback: 'deny', rules: [{ scopes: ['files.read'], effect: 'grant' }] },
      },
    };
    await writeFile(file, JSON.stringify(document));
    const loaded = await cli(['policy', 'load', file]);
    expect(loaded.code).toBe(EXIT.ok);
    expect(loaded.out).toContain('1 resource policy (https://files.example)');
    expect(await t.prisma.trustedPersonServer.findMany()).toEqual([
      expect.objectContaining({ issuer: 'https://ps.example' }),
    ]);

    const shown = await cli(['policy', 'show']);
    expect(shown.code).toBe(EXIT.ok);
    const parsed = JSON.parse(shown.out) as typeof document;
    expect(parsed.trusted_person_servers).toEqual(['https://ps.example']);
    expect(parsed.resources['https://files.example']).toEqual(document.resources['https://files.example']);
    expect(Object.keys(parsed.resources)).toContain(RESOURCE);
  });

  it('policy load refuses an invalid or unreadable file (exit 1) and stores nothing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'as-admin-'));
    const bad = join(dir, 'bad.json');
    await writeFile(bad, JSON.stringify({ resources: { 'not a url': { rules: [] } } }));
    const invalid = await cli(['policy', 'load', bad]);
    expect(invalid.code).toBe(EXIT.usage);
    expect(invalid.err).toContain('is not a server identifier');
    expect(await t.prisma.resourcePolicy.findUnique({ where: { resource: 'not a url' } })).toBeNull();

    const missing = await cli(['policy', 'load', join(dir, 'missing.json')]);
    expect(missing.code).toBe(EXIT.usage);
    expect(missing.err).toContain('is not readable JSON');
  });
});

describe('aauth-as-admin usage', () => {
  it('--help prints the commands (exit 0); no command or an unknown one is exit 1', async () => {
    const help = await cli(['--help']);
    expect(help.code).toBe(EXIT.ok);
    expect(help.out).toContain('bindings revoke <ps> <sub>');
    expect((await cli([])).code).toBe(EXIT.usage);
    expect((await cli(['tokens', 'burn', 'x'])).code).toBe(EXIT.usage);
    expect((await cli(['tokens', 'list', 'extra'])).code).toBe(EXIT.usage);
  });
});
