import { type QueryLog, recordQueries, type StubR3Resource } from '@aauth-ref/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decodePayload,
  makeRequestTokens,
  type RequestTokensOptions,
  sendAsPs,
  startTestApp,
  type TestApp,
} from './support/app-harness.js';
import { createStubR3ResourceFor, MCP, R3_TEST_POLICY } from './support/r3.js';

/**
 * Database round trips of a warm, consent-free four-party `POST /token` (docs/benchmarks.md, *Auth
 * server issuance*): every statement the AS sends for the request, the verification hook's replay
 * cache insert included. Before the combined read it was 7 (replay, revocation, policy, trust list,
 * binding, billing, token record) and 5 more for an R3 token's audit record in its own transaction.
 */

let t: TestApp;
let log: QueryLog;
let resource: StubR3Resource;
beforeAll(async () => {
  t = await startTestApp({
    policy: R3_TEST_POLICY,
    r3Fetch: (url, request) => resource.fetch(url, request),
    wrapDatabase: (db) => {
      const recorded = recordQueries(db);
      log = recorded.log;
      return recorded.db;
    },
  });
  resource = createStubR3ResourceFor(t);
  // Warm: keys resolved, the replay cache's periodic purge done.
  expect((await requestToken({ scope: 'read' })).response.statusCode).toBe(200);
});
afterAll(async () => {
  await t?.close();
});

async function requestToken(
  options: RequestTokensOptions,
  prepare?: (body: Record<string, string>) => Promise<Record<string, string>>,
) {
  t.clock.advance(100);
  const made = makeRequestTokens(t, options).body;
  const tokens = { body: prepare ? await prepare(made) : made };
  log.clear();
  const response = await sendAsPs(t, { method: 'POST', path: '/token', body: tokens.body });
  return { response, statements: [...log.statements] };
}

const REPLAY = /^\s*INSERT INTO replay_entry\b/;
const FACT_TABLES = ['resource_policy', 'trusted_person_server', 'ps_binding', 'billing_relationship'];

/** The one read: a SELECT of the policy, the trust tables and `revocations` revocation keys. */
function expectFactsRead(sql: string | undefined, revocations: number) {
  expect(sql).toMatch(/^\s*SELECT\b/);
  for (const table of FACT_TABLES) expect(sql).toContain(`"${table}"`);
  expect(sql?.split('FROM "revocation"')).toHaveLength(revocations + 1);
}

describe('database round trips of a warm POST /token', () => {
  it('a direct grant: the replay insert, one read, one insert', async () => {
    for (let i = 0; i < 2; i++) {
      const { response, statements } = await requestToken({ scope: 'read' });
      expect(response.statusCode).toBe(200);
      expect(statements).toHaveLength(3);
      expect(statements[0]).toMatch(REPLAY);
      expectFactsRead(statements[1], 1);
      expect(statements[2]).toMatch(/^\s*INSERT INTO "issued_auth_token"/);
    }
  });

  it('a parent-mediated grant reads both tokens’ revocation in the same statement', async () => {
    const { response, statements } = await requestToken({ scope: 'read', subagent: true });
    expect(response.statusCode).toBe(200);
    expect(statements).toHaveLength(3);
    expectFactsRead(statements[1], 2);
  });

  it('an R3 grant writes the token and its audit record in one statement (§Audit Log Integrity)', async () => {
    const r3 = resource.publish({ vocabulary: MCP, operations: [{ tool: 'list_notes' }] });
    const { response, statements } = await requestToken({ claims: { ...r3 } });
    expect(response.statusCode).toBe(200);
    expect(statements).toHaveLength(3);
    expect(statements[2]).toMatch(/^\s*WITH token AS \(\s*INSERT INTO "issued_auth_token"/);
    expect(statements[2]).toMatch(/INSERT INTO "r3_audit_record"/);
    expect(await t.prisma.r3AuditRecord.count()).toBe(1);
  });

  it('a denial reads once and writes nothing', async () => {
    const { response, statements } = await requestToken({ scope: 'admin' });
    expect(response.statusCode).toBe(403);
    expect(response.json().error).toBe('denied');
    expect(statements).toHaveLength(2);
    expectFactsRead(statements[1], 1);
  });
});

/** Revokes a token of the request body here, as its provider would (§Token Revocation). */
async function revoke(jwt: string) {
  const { iss, jti } = decodePayload(jwt) as { iss: string; jti: string };
  await t.prisma.revocation.create({ data: { iss, jti } });
}

const problem = (response: { statusCode: number; json(): unknown }) => ({
  status: response.statusCode,
  ...(response.json() as { error: string; detail: string }),
});

describe('revocation read with the facts (§Token Revocation)', () => {
  it('a revoked sub-agent token is 400 invalid_agent_token after the one read', async () => {
    const { response, statements } = await requestToken({ scope: 'read', subagent: true }, async (body) => {
      await revoke(body.subagent_token!);
      return body;
    });
    expect(problem(response)).toMatchObject({
      status: 400,
      error: 'invalid_agent_token',
      detail: 'The sub-agent token has been revoked.',
    });
    expect(statements).toHaveLength(2);
    expectFactsRead(statements[1], 2);
  });

  it('a revoked agent token is refused before an invalid sub-agent token, as before', async () => {
    const { response } = await requestToken({ scope: 'read', subagent: true }, async (body) => {
      await revoke(body.agent_token!);
      return { ...body, subagent_token: `${body.subagent_token!.slice(0, -4)}AAAA` };
    });
    expect(problem(response)).toMatchObject({
      status: 400,
      error: 'invalid_agent_token',
      detail: 'The agent token has been revoked.',
    });
  });

  it('an invalid sub-agent token of an unrevoked agent is still refused as invalid', async () => {
    const { response } = await requestToken({ scope: 'read', subagent: true }, async (body) => ({
      ...body,
      subagent_token: `${body.subagent_token!.slice(0, -4)}AAAA`,
    }));
    expect(problem(response)).toMatchObject({
      status: 400,
      error: 'invalid_agent_token',
      detail: 'the JWT signature does not verify',
    });
  });
});
