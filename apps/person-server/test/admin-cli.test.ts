import { randomUUID } from 'node:crypto';
import { createLocalKeyResolver, DWK, type OutboundRequest } from '@aauth-ref/core';
import { type AdminIo, EXIT } from '@aauth-ref/fastify/admin-cli';
import { createTestIssuer } from '@aauth-ref/testkit';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runPsAdminCli } from '../src/admin/cli.js';
import { createPsAdminSession } from '../src/admin/session.js';
import { Browser, ISSUER, startTestApp, type TestApp } from './support/app-harness.js';

/** `aauth-ps-admin` driven in-process over the test PS's own database, stdin/stdout injected. */

const RESOURCE = 'https://resource.example';
const resource = createTestIssuer({
  dwk: DWK.resource,
  issuer: RESOURCE,
  metadata: { revocation_endpoint: `${RESOURCE}/revoke` },
});
const remoteKeys = createLocalKeyResolver([resource]);

let t: TestApp;
const sent: OutboundRequest[] = [];
let resourceStatus = 200;

beforeAll(async () => {
  t = await startTestApp({ remoteKeys });
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

async function cli(argv: string[], stdin = '', prompt?: string[]): Promise<CliResult> {
  let out = '';
  let err = '';
  const answers = [...(prompt ?? [])];
  const io: AdminIo = {
    stdin: (async function* () {
      if (stdin !== '') yield Buffer.from(stdin, 'utf8');
    })(),
    stdout: { write: (text: string) => (out += text) },
    stderr: { write: (text: string) => (err += text) },
    ...(prompt ? { promptSecret: async () => answers.shift() ?? '' } : {}),
  };
  const code = await runPsAdminCli(argv, io, async () =>
    createPsAdminSession({
      config: t.config,
      prisma: t.prisma,
      psKeys: t.psKeys,
      clock: t.clock,
      remoteKeys,
      outboundFetch: async (request) => {
        sent.push(request);
        return { status: resourceStatus };
      },
    }),
  );
  return { code, out, err };
}

async function personId(username: string): Promise<string> {
  return (await t.prisma.person.findUniqueOrThrow({ where: { username } })).id;
}

async function seedAuthToken(owner: string): Promise<string> {
  const jti = `auth-${randomUUID()}`;
  const now = t.clock.now();
  await t.prisma.issuedAuthToken.create({
    data: {
      jti,
      iss: ISSUER,
      aud: RESOURCE,
      sub: 'directed',
      scope: 'calendar.read',
      personId: owner,
      agentIss: 'https://agent.example',
      agentSub: 'aauth:agent@agent.example',
      cnfJkt: 'jkt',
      issuedAt: new Date(now),
      exp: new Date(now + 3_600_000),
    },
  });
  return jti;
}

async function seedPersonToken(owner: string): Promise<string> {
  const jti = `person-${randomUUID()}`;
  const now = t.clock.now();
  await t.prisma.personTokenRecord.create({
    data: {
      jti,
      ps: ISSUER,
      sub: 'directed',
      exp: new Date(now + 3_600_000),
      resource: RESOURCE,
      personId: owner,
      agentIss: 'https://agent.example',
      agentSub: 'aauth:agent@agent.example',
      cnfJkt: 'jkt',
      issuedAt: new Date(now),
    },
  });
  return jti;
}

describe('aauth-ps-admin person', () => {
  const password = 'dana-strong-password-1';

  it('person create: the new person signs in through the real sign-in route; the password is never printed', async () => {
    const res = await cli(
      [
        'person',
        'create',
        'dana',
        '--name',
        'Dana Example',
        '--email',
        'dana@example.com',
        '--tenant',
        'acme',
      ],
      `${password}\n`,
    );
    expect(res.code).toBe(EXIT.usage); // no --password-stdin and no terminal: refused
    expect(res.err).toContain('--password-stdin');

    const created = await cli(
      [
        'person',
        'create',
        'dana',
        '--name',
        'Dana Example',
        '--email',
        'dana@example.com',
        '--tenant',
        'acme',
        '--password-stdin',
      ],
      `${password}\n`,
    );
    expect(created).toMatchObject({ code: EXIT.ok, err: '' });
    expect(created.out).toBe('created the person dana\n');
    const row = await t.prisma.person.findUniqueOrThrow({ where: { username: 'dana' } });
    expect(row).toMatchObject({ displayName: 'Dana Example', email: 'dana@example.com', tenant: 'acme' });
    expect(row.passwordHash).toMatch(/^\$scrypt\$/);

    const browser = new Browser(t);
    const signIn = await browser.signIn('dana', password);
    expect(signIn.statusCode).toBe(303);
    expect(signIn.headers.location).toBe('/dashboard');
    expect((await new Browser(t).signIn('dana', `${password}\n`)).statusCode).toBe(401);
  });

  it('person create: a duplicate username is exit 3 with a message, and the existing person is unchanged', async () => {
    const before = await t.prisma.person.findUniqueOrThrow({ where: { username: 'alice' } });
    const res = await cli(
      ['person', 'create', 'alice', '--name', 'Other', '--password-stdin'],
      'another-password',
    );
    expect(res.code).toBe(EXIT.conflict);
    expect(res.err).toContain('a person named alice exists already');
    expect(`${res.out}${res.err}`).not.toContain('another-password');
    const after = await t.prisma.person.findUniqueOrThrow({ where: { username: 'alice' } });
    expect(after.passwordHash).toBe(before.passwordHash);
    expect(after.displayName).toBe(before.displayName);
  });

  it('person create: asked twice on a terminal; differing answers are refused', async () => {
    const differ = await cli(['person', 'create', 'erin', '--name', 'Erin'], '', [
      'erin-password-1',
      'erin-password-2',
    ]);
    expect(differ.code).toBe(EXIT.usage);
    expect(differ.err).toContain('the two passwords differ');
    expect(await t.prisma.person.findUnique({ where: { username: 'erin' } })).toBeNull();
    const ok = await cli(['person', 'create', 'erin', '--name', 'Erin'], '', [
      'erin-password-1',
      'erin-password-1',
    ]);
    expect(ok.code).toBe(EXIT.ok);
    expect((await new Browser(t).signIn('erin', 'erin-password-1')).statusCode).toBe(303);
  });

  it('refuses a password given as an argument, a short password, a bad username and a missing --name (exit 1)', async () => {
    const argument = await cli([
      'person',
      'create',
      'frank',
      '--name',
      'Frank',
      '--password',
      'frank-password-1',
    ]);
    expect(argument.code).toBe(EXIT.usage);
    expect(argument.err).toContain('never taken as arguments');
    expect(argument.err).not.toContain('frank-password-1');
    expect(
      (await cli(['person', 'create', 'frank', '--name', 'Frank', '--password=frank-password-1'])).code,
    ).toBe(EXIT.usage);
    const short = await cli(['person', 'create', 'frank', '--name', 'Frank', '--password-stdin'], 'short');
    expect(short.code).toBe(EXIT.usage);
    expect(short.err).toContain('at least 8 characters');
    expect(
      (await cli(['person', 'create', 'fr ank', '--name', 'Frank', '--password-stdin'], 'long-enough-1'))
        .code,
    ).toBe(EXIT.usage);
    const noName = await cli(['person', 'create', 'frank', '--password-stdin'], 'long-enough-1');
    expect(noName.code).toBe(EXIT.usage);
    expect(noName.err).toContain('--name is required');
    expect(await t.prisma.person.findUnique({ where: { username: 'frank' } })).toBeNull();
  });

  it('person list --json parses and carries no password hash', async () => {
    const res = await cli(['person', 'list', '--json']);
    expect(res.code).toBe(EXIT.ok);
    const persons = JSON.parse(res.out) as Record<string, unknown>[];
    expect(persons.map((p) => p.username)).toEqual(expect.arrayContaining(['alice', 'bob']));
    expect(persons.find((p) => p.username === 'alice')).toEqual({
      username: 'alice',
      displayName: 'Alice Example',
      email: 'alice@example.com',
      tenant: null,
      createdAt: expect.any(String),
    });
    expect(res.out).not.toContain('scrypt');
    const table = await cli(['person', 'list']);
    expect(table.out.split('\n')[0]).toMatch(/^USERNAME\s+NAME\s+EMAIL\s+TENANT\s+CREATED$/);
    expect(table.out).toContain('Alice Example');
  });

  it('person set-password: the new password signs in, the old one no longer does, open sessions end', async () => {
    await cli(['person', 'create', 'gina', '--name', 'Gina', '--password-stdin'], 'gina-old-password');
    const session = new Browser(t);
    expect((await session.signIn('gina', 'gina-old-password')).statusCode).toBe(303);
    expect((await session.get('/dashboard')).statusCode).toBe(200);

    const res = await cli(['person', 'set-password', 'gina', '--password-stdin'], 'gina-new-password\n');
    expect(res.code).toBe(EXIT.ok);
    expect(res.out).toBe('changed the password of gina; 1 browser session(s) signed out\n');
    expect((await session.get('/dashboard')).statusCode).toBe(303);
    expect((await new Browser(t).signIn('gina', 'gina-old-password')).statusCode).toBe(401);
    expect((await new Browser(t).signIn('gina', 'gina-new-password')).statusCode).toBe(303);

    const unknown = await cli(['person', 'set-password', 'nobody', '--password-stdin'], 'whatever-password');
    expect(unknown.code).toBe(EXIT.notFound);
    expect(unknown.err).toContain('no person is named nobody');
  });
});

describe('aauth-ps-admin agents and tokens', () => {
  it('agents list: the active bindings of a person; an unknown person is exit 2', async () => {
    await t.prisma.agentBinding.create({
      data: {
        id: randomUUID(),
        agentIss: 'https://agent.example',
        agentSub: 'aauth:listed@agent.example',
        personId: await personId('bob'),
        agentName: 'Listed agent',
      },
    });
    const res = await cli(['agents', 'list', 'bob', '--json']);
    expect(res.code).toBe(EXIT.ok);
    expect(JSON.parse(res.out)).toEqual([
      expect.objectContaining({
        agentIss: 'https://agent.example',
        agentSub: 'aauth:listed@agent.example',
        agentName: 'Listed agent',
      }),
    ]);
    expect((await cli(['agents', 'list', 'nobody'])).code).toBe(EXIT.notFound);
  });

  it('tokens list --json: live tokens of everyone or of one person', async () => {
    const aliceJti = await seedAuthToken(await personId('alice'));
    const bobJti = await seedPersonToken(await personId('bob'));
    const all = await cli(['tokens', 'list', '--json']);
    expect(all.code).toBe(EXIT.ok);
    const tokens = JSON.parse(all.out) as Record<string, unknown>[];
    expect(tokens).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: 'auth', jti: aliceJti, person: 'alice', resource: RESOURCE }),
        expect.objectContaining({ kind: 'person', jti: bobJti, person: 'bob', iss: ISSUER }),
      ]),
    );
    const alice = JSON.parse((await cli(['tokens', 'list', '--person', 'alice', '--json'])).out) as {
      person: string;
    }[];
    expect(alice.length).toBeGreaterThan(0);
    expect(alice.every((token) => token.person === 'alice')).toBe(true);
    expect((await cli(['tokens', 'list', '--person', 'nobody'])).code).toBe(EXIT.notFound);
  });

  it('tokens revoke: marks the auth token revoked and notifies the resource revocation_endpoint signed by the PS (§Token Revocation)', async () => {
    const jti = await seedAuthToken(await personId('alice'));
    const res = await cli(['tokens', 'revoke', jti]);
    expect(res.code).toBe(EXIT.ok);
    expect(res.out).toContain(`revoked the auth token ${jti}`);
    expect(res.out).toContain(`notified ${RESOURCE} (HTTP 200)`);
    const row = await t.prisma.issuedAuthToken.findUniqueOrThrow({ where: { jti } });
    expect(row.revokedAt).not.toBeNull();
    expect(sent).toHaveLength(1);
    expect(sent[0]!.url).toBe(`${RESOURCE}/revoke`);
    expect(JSON.parse(sent[0]!.body.toString('utf8'))).toEqual({ iss: ISSUER, jti });
    expect(sent[0]!.headers['signature-key']).toContain('jwks_uri');
    expect(sent[0]!.headers['signature-key']).toContain(ISSUER);

    const listed = JSON.parse((await cli(['tokens', 'list', '--json'])).out) as { jti: string }[];
    expect(listed.map((token) => token.jti)).not.toContain(jti);
    const again = await cli(['tokens', 'revoke', jti]);
    expect(again.code).toBe(EXIT.notFound);
    expect(again.err).toContain('no longer live');
    expect(sent).toHaveLength(1);
  });

  it('tokens revoke: a person token is recorded revoked; an unknown jti is exit 2', async () => {
    const jti = await seedPersonToken(await personId('bob'));
    const res = await cli(['tokens', 'revoke', jti]);
    expect(res.code).toBe(EXIT.ok);
    expect(await t.prisma.revocation.findUnique({ where: { iss_jti: { iss: ISSUER, jti } } })).not.toBeNull();
    expect(sent.map((request) => request.url)).toEqual([`${RESOURCE}/revoke`]);
    const unknown = await cli(['tokens', 'revoke', 'no-such-jti']);
    expect(unknown.code).toBe(EXIT.notFound);
    expect(unknown.err).toContain('no auth or person token no-such-jti');
  });

  it('tokens revoke: revoked here but the resource refused the notice → exit 5 with the reason', async () => {
    resourceStatus = 500;
    const jti = await seedAuthToken(await personId('alice'));
    const res = await cli(['tokens', 'revoke', jti]);
    expect(res.code).toBe(EXIT.partial);
    expect(res.err).toContain(`could not notify ${RESOURCE} (status HTTP 500)`);
    expect((await t.prisma.issuedAuthToken.findUniqueOrThrow({ where: { jti } })).revokedAt).not.toBeNull();
  });
});

describe('aauth-ps-admin usage', () => {
  it('--help prints the commands (exit 0); no command or an unknown one is exit 1', async () => {
    const help = await cli(['--help']);
    expect(help.code).toBe(EXIT.ok);
    expect(help.out).toContain('person create <username>');
    expect(help.out).toContain('tokens revoke <jti>');
    expect((await cli(['tokens', 'revoke', '--help'])).code).toBe(EXIT.ok);
    expect((await cli([])).code).toBe(EXIT.usage);
    const unknown = await cli(['person', 'disable', 'alice']);
    expect(unknown.code).toBe(EXIT.usage);
    expect(unknown.err).toContain('unknown command "person disable"');
    expect((await cli(['tokens', 'revoke'])).code).toBe(EXIT.usage);
    expect((await cli(['person', 'list', '--bogus'])).code).toBe(EXIT.usage);
  });

  it('a configuration problem is exit 4 and names the variable', async () => {
    let err = '';
    const io: AdminIo = {
      stdin: (async function* () {})(),
      stdout: { write: () => undefined },
      stderr: { write: (text: string) => (err += text) },
    };
    const { openPsAdminSession } = await import('../src/admin/session.js');
    const code = await runPsAdminCli(['person', 'list'], io, () =>
      openPsAdminSession({ PORT: 'not-a-port', DATA_DIR: t.config.DATA_DIR, AAUTH_DEV: '1' }),
    );
    expect(code).toBe(EXIT.environment);
    expect(err).toContain('PORT');
  });
});
