import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DWK, decodeJwtUnverified } from '@aauth-ref/core';
import { type Database, openDatabase } from '@aauth-ref/db';
import { createTestDatabase, type TestDatabase } from '@aauth-ref/db/testing';
import { MIGRATIONS_DIR as PS_MIGRATIONS } from '@aauth-ref/person-server/app';
import {
  makeResourceToken,
  startTestAgentProvider,
  startTestIssuerServer,
  type TestAgentProvider,
  type TestIssuerServer,
} from '@aauth-ref/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PersonBrowser } from '../../e2e/test/support/person.js';
import {
  ALICE,
  createFlowAgent,
  type FlowAgent,
  jsonOf,
  obtainPersonToken,
  pendingOf,
  send,
  waitRetryAfter,
} from '../src/faults/flow.js';
import { findFreePort, type ServerProcess, startServerProcess } from '../src/faults/processes.js';

/**
 * Fault injection (issue #10, item 3): the Person Server is killed with SIGKILL while an auth-token
 * consent is pending (§Deferred Responses) — after the person has opened the consent page — and
 * restarted on the same port and database. The person's Approve (the page loaded before the crash,
 * its CSRF token and session included) still counts, the agent's poll of the same pending URL gets
 * the auth token, and the database holds exactly one issued token and one consumed pending request.
 * The PS is a real process (`src/main.ts`); PostgreSQL when `TEST_DATABASE_URL` is set (a database of
 * this file's own), else PGlite under the server's data folder.
 */

let port: number;
let dataDir: string;
let testDb: TestDatabase | undefined;
let ps: ServerProcess;
let ap: TestAgentProvider;
let resource: TestIssuerServer;
let agent: FlowAgent;
const SCOPE = 'data.read';

function startPs(): ServerProcess {
  return startServerProcess({
    app: 'person-server',
    port,
    dataDir,
    ...(testDb?.url ? { databaseUrl: testDb.url } : {}),
    env: { SEED_DEMO_PERSONS: '1', LOG_LEVEL: 'error' },
  });
}

/** The PS's database, read by the test (PGlite: only once no server process holds the folder). */
async function withPsDatabase<T>(fn: (db: Database) => Promise<T>): Promise<T> {
  if (testDb) return fn(testDb.db);
  await ps.kill('SIGTERM');
  const db = await openDatabase({ dataDir: join(dataDir, 'db') });
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

beforeAll(async () => {
  port = await findFreePort();
  dataDir = await mkdtemp(join(tmpdir(), 'conf-sigkill-ps-'));
  if (process.env.TEST_DATABASE_URL) testDb = await createTestDatabase({ migrationsDir: PS_MIGRATIONS });
  [ap, resource] = await Promise.all([
    startTestAgentProvider(),
    startTestIssuerServer({
      dwk: DWK.resource,
      metadata: { access_mode: 'auth-token', scope_descriptions: { [SCOPE]: 'Read your data' } },
    }),
  ]);
  ps = startPs();
  await ps.ready();
  agent = createFlowAgent(ap, ps.issuer);
}, 180_000);

afterAll(async () => {
  await ps?.kill('SIGTERM');
  await Promise.all([ap?.close(), resource?.close()]);
  await testDb?.drop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('fault: the PS killed with SIGKILL while a consent is pending (§Deferred Responses)', () => {
  it('the person approves after the restart and the agent polls exactly one auth token', async () => {
    // A person token first (alice binds the agent), so the resource token can name her.
    const personToken = decodeJwtUnverified(await obtainPersonToken(ps.issuer, resource.issuer, agent))
      .payload as { jti: string; sub: string; tenant?: string };
    const resourceToken = makeResourceToken({
      issuer: resource,
      aud: ps.issuer,
      ps: ps.issuer,
      sub: personToken.sub,
      presented_jti: personToken.jti,
      agentKey: agent.key,
      scope: SCOPE,
      ...(personToken.tenant ? { claims: { tenant: personToken.tenant } } : {}),
    }).jwt;

    // §Deferred Responses: a scope the person has not consented to yet is a 202 with a pending URL.
    const asked = await send(`${ps.issuer}/token`, agent, {
      method: 'POST',
      body: { resource_token: resourceToken, capabilities: ['interaction'] },
    });
    expect(asked.status).toBe(202);
    const pending = pendingOf(asked, ps.issuer);
    expect(pending.code).toBeDefined();

    // alice signs in and opens the consent page; then the PS dies without any chance to clean up.
    const browser = new PersonBrowser();
    const consent = await browser.openSignedIn(
      `${ps.issuer}/interaction?code=${encodeURIComponent(pending.code!)}`,
      ALICE,
    );
    expect(consent.url.pathname).toBe('/interaction');
    expect(await ps.kill('SIGKILL')).toBe('SIGKILL');
    await expect(send(pending.url, agent, { timeoutMs: 5_000 })).rejects.toThrow();

    ps = startPs();
    await ps.ready();
    // The pending request survived: still 202 for its agent before the person decides.
    const waiting = await send(pending.url, agent);
    expect(waiting.status).toBe(202);

    // The page loaded before the crash: its CSRF token and alice's session are in the database.
    const decided = await browser.submit(consent, 'Approve');
    expect(decided.status).toBe(200);

    await waitRetryAfter(waiting);
    const answer = await send(pending.url, agent);
    expect(answer.status).toBe(200);
    const authToken = jsonOf(answer).auth_token;
    expect(typeof authToken).toBe('string');
    const claims = decodeJwtUnverified(String(authToken)).payload;
    expect(claims).toMatchObject({
      iss: ps.issuer,
      aud: resource.issuer,
      sub: personToken.sub,
      scope: SCOPE,
    });
    // Polled again, the completed pending URL does not mint a second token.
    await waitRetryAfter(waiting);
    const again = await send(pending.url, agent);
    expect([again.status, jsonOf(again).error]).toEqual([410, 'gone']);

    const pendingId = new URL(pending.url).pathname.split('/').at(-1);
    const rows = await withPsDatabase(async (db) => ({
      issued: await db.exec<{ jti: string }>('SELECT jti FROM issued_auth_token'),
      pending: await db.exec<{ id: string; status: string; consumed: boolean }>(
        "SELECT id, status, terminal_at IS NOT NULL AS consumed FROM pending_request WHERE kind = 'auth_token'",
      ),
      consents: await db.exec<{ n: number }>('SELECT count(*)::int AS n FROM scope_consent'),
    }));
    expect(rows.issued).toEqual([{ jti: claims.jti }]);
    // One auth-token pending request, delivered once: `terminal_at` set on the 200 poll.
    expect(rows.pending).toEqual([{ id: pendingId, status: 'approved', consumed: true }]);
    expect(rows.consents).toEqual([{ n: 1 }]);
  }, 180_000);
});
