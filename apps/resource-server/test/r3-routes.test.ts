import { computeR3S256 } from '@aauth-ref/core';
import { type QueryLog, recordQueries } from '@aauth-ref/testkit';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  authToken,
  decodePayload,
  ISSUER,
  newAgent,
  personToken,
  resourceTokenOf,
  send,
  startTestApp,
  type TestAgent,
  type TestApp,
} from './support/app-harness.js';
import { fetchR3, MCP, OPENAPI, r3AuthToken } from './support/r3.js';

/**
 * R3 §Grant Enforcement on the auth-token routes besides the notes API and MCP: `GET /api/whoami` and
 * `GET /api/journal`'s three-party fallback (and `/chain/notes`, same helper) are authorized as
 * `listNotes` (docs/spec-decisions.md, "R3 on every auth-token route"), and stay cheap: a warm request
 * sends the database nothing for whoami and only the notes read for `GET /api/notes`.
 */

let t: TestApp;
let log: QueryLog;
beforeAll(async () => {
  t = await startTestApp(
    {},
    {
      wrapDatabase: (db) => {
        const recorded = recordQueries(db);
        log = recorded.log;
        return recorded.db;
      },
    },
  );
});
afterAll(async () => {
  await t?.close();
});

/** An agent whose person token this resource verified, and the listNotes class document's claims. */
async function agentWithClassDocument(sub: string) {
  const agent = newAgent(t);
  const pt = personToken(t, agent.key, { sub });
  const challenged = await send(t, { path: '/api/notes', key: agent.key, signatureKey: pt });
  expect(challenged.statusCode).toBe(401);
  const claims = decodePayload(resourceTokenOf(challenged));
  return { agent, r3_uri: claims.r3_uri as string, r3_s256: claims.r3_s256 as string };
}

function get(agent: TestAgent, path: string, token: string) {
  // A second apart, so the requests are distinct signatures.
  t.clock.advance(1000);
  return send(t, { path, key: agent.key, signatureKey: token });
}

async function r3DocumentOf(response: LightMyRequestResponse) {
  expect(response.statusCode).toBe(401);
  expect(response.headers['signature-error']).toBeUndefined();
  const claims = decodePayload(resourceTokenOf(response));
  expect(claims.r3_uri).toBe(`${ISSUER}/r3/${claims.r3_s256}`);
  const fetched = await fetchR3(t, t.ps, claims.r3_uri as string);
  expect(fetched.statusCode).toBe(200);
  return fetched.json() as { vocabulary: string; operations: unknown[] };
}

describe('§Grant Enforcement: GET /api/whoami', () => {
  it('an R3 auth token granting listNotes and no scope → 200 (not a challenge)', async () => {
    const { agent, r3_uri, r3_s256 } = await agentWithClassDocument('r3-who-1');
    const token = r3AuthToken(t, agent.key, {
      sub: 'r3-who-1',
      r3_uri,
      r3_s256,
      r3_granted: { vocabulary: OPENAPI, operations: [{ operationId: 'listNotes' }] },
    });
    const response = await get(agent, '/api/whoami', token);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({
      ps: t.ps.issuer,
      sub: 'r3-who-1',
      scope: '',
      notebook: 'personal',
    });
  });

  it('an R3 grant without listNotes → 401 step-up whose document names the held operation plus listNotes', async () => {
    const { agent, r3_uri, r3_s256 } = await agentWithClassDocument('r3-who-2');
    const token = r3AuthToken(t, agent.key, {
      sub: 'r3-who-2',
      r3_uri,
      r3_s256,
      r3_granted: { vocabulary: OPENAPI, operations: [{ operationId: 'createNote' }] },
    });
    const document = await r3DocumentOf(await get(agent, '/api/whoami', token));
    expect(document.vocabulary).toBe(OPENAPI);
    expect(document.operations).toEqual(
      expect.arrayContaining([{ operationId: 'createNote' }, { operationId: 'listNotes' }]),
    );
    expect(document.operations).toHaveLength(2);
  });

  it('list_notes granted in the MCP vocabulary authorizes no REST route → 401 step-up', async () => {
    const { agent, r3_uri, r3_s256 } = await agentWithClassDocument('r3-who-3');
    const token = r3AuthToken(t, agent.key, {
      sub: 'r3-who-3',
      r3_uri,
      r3_s256,
      r3_granted: { vocabulary: MCP, operations: [{ tool: 'list_notes' }] },
    });
    const document = await r3DocumentOf(await get(agent, '/api/whoami', token));
    expect(document).toMatchObject({ vocabulary: OPENAPI, operations: [{ operationId: 'listNotes' }] });
  });

  it('a person token → 401 auth-token whose resource token carries scope notes.read and the listNotes document', async () => {
    const agent = newAgent(t);
    const response = await get(agent, '/api/whoami', personToken(t, agent.key, { sub: 'r3-who-4' }));
    expect(decodePayload(resourceTokenOf(response))).toMatchObject({ scope: 'notes.read' });
    expect(await r3DocumentOf(response)).toMatchObject({
      vocabulary: OPENAPI,
      operations: [{ operationId: 'listNotes' }],
    });
  });

  it('listNotes in r3_per_call → 401 with a per-call proposal (§Resource Enforcement step 2)', async () => {
    const { agent, r3_uri, r3_s256 } = await agentWithClassDocument('r3-who-5');
    const token = r3AuthToken(t, agent.key, {
      sub: 'r3-who-5',
      r3_uri,
      r3_s256,
      r3_granted: { vocabulary: OPENAPI, operations: [{ operationId: 'createNote' }] },
      r3_per_call: { vocabulary: OPENAPI, operations: [{ operationId: 'listNotes' }] },
    });
    const document = await r3DocumentOf(await get(agent, '/api/whoami', token));
    expect(document).toMatchObject({ operations: [{ operationId: 'listNotes' }], parameters: {} });
  });
});

describe('§Grant Enforcement: GET /api/journal (three-party fallback)', () => {
  it('an R3 token granting listNotes → 200 via auth-token; one without it → 401 step-up', async () => {
    const { agent, r3_uri, r3_s256 } = await agentWithClassDocument('r3-journal');
    const granted = r3AuthToken(t, agent.key, {
      sub: 'r3-journal',
      r3_uri,
      r3_s256,
      r3_granted: { vocabulary: OPENAPI, operations: [{ operationId: 'listNotes' }] },
    });
    const served = await get(agent, '/api/journal', granted);
    expect(served.statusCode).toBe(200);
    expect(served.json()).toMatchObject({ account: null, via: 'auth-token', notes: [] });
    const other = r3AuthToken(t, agent.key, {
      sub: 'r3-journal',
      r3_uri,
      r3_s256,
      r3_granted: { vocabulary: OPENAPI, operations: [{ operationId: 'createNote' }] },
    });
    const document = await r3DocumentOf(await get(agent, '/api/journal', other));
    expect(document.operations).toContainEqual({ operationId: 'listNotes' });
  });
});

describe('database statements of a warm read (docs/benchmarks.md hot path)', () => {
  /** The background revocation poll (a timer, not the request) may land in any window. */
  const BACKGROUND = /"revocation"/;

  /** Statements sent while `request` ran; the first call of a token records it, so measure the second. */
  async function statementsOf(request: () => Promise<LightMyRequestResponse>) {
    expect((await request()).statusCode).toBe(200);
    log.clear();
    const response = await request();
    expect(response.statusCode).toBe(200);
    return log.statements.filter((sql) => !BACKGROUND.test(sql));
  }

  it('GET /api/whoami sends none, with a scope-only or an R3 auth token', async () => {
    const { agent, r3_uri, r3_s256 } = await agentWithClassDocument('r3-hot-1');
    const scoped = authToken(t, agent.key, { sub: 'r3-hot-1', scope: 'notes.read' });
    expect(await statementsOf(() => get(agent, '/api/whoami', scoped))).toEqual([]);
    const r3 = r3AuthToken(t, agent.key, {
      sub: 'r3-hot-1',
      r3_uri,
      r3_s256,
      r3_granted: { vocabulary: OPENAPI, operations: [{ operationId: 'listNotes' }] },
    });
    expect(await statementsOf(() => get(agent, '/api/whoami', r3))).toEqual([]);
    // A document this resource no longer stores (purged after its retention) is remembered as absent.
    const gone = computeR3S256('a purged class document');
    const purged = r3AuthToken(t, agent.key, {
      sub: 'r3-hot-1',
      r3_uri: `${ISSUER}/r3/${gone}`,
      r3_s256: gone,
      r3_granted: { vocabulary: OPENAPI, operations: [{ operationId: 'listNotes' }] },
    });
    expect(await statementsOf(() => get(agent, '/api/whoami', purged))).toEqual([]);
  });

  it('GET /api/notes sends only the notes read, with a scope-only or an R3 auth token', async () => {
    const { agent, r3_uri, r3_s256 } = await agentWithClassDocument('r3-hot-2');
    const scoped = authToken(t, agent.key, { sub: 'r3-hot-2', scope: 'notes.read' });
    const viaScope = await statementsOf(() => get(agent, '/api/notes', scoped));
    expect(viaScope).toHaveLength(1);
    expect(viaScope[0]).toMatch(/\bnote\b/);
    const r3 = r3AuthToken(t, agent.key, {
      sub: 'r3-hot-2',
      r3_uri,
      r3_s256,
      r3_granted: { vocabulary: OPENAPI, operations: [{ operationId: 'listNotes' }] },
    });
    expect(await statementsOf(() => get(agent, '/api/notes', r3))).toEqual(viaScope);
  });
});
