import { createLocalKeyResolver, DWK } from '@aauth-ref/core';
import { createTestIssuer, makeAgentToken, type QueryLog, recordQueries } from '@aauth-ref/testkit';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ISSUER, sendSigned, startTestApp, type TestApp } from './support/app-harness.js';
import { bindAgentWithPersonToken, pathOf, type TestAgent } from './support/token-flow.js';

/**
 * Database round trips of the Person Server's hottest requests (docs/benchmarks.md, *Person Server
 * issuance*): a warm `POST /person` and the pending URL's `GET`, `POST` and `DELETE`. Counted per
 * request from the statements the PS sends; the shared verification hook's own statements (the
 * revocation lookup, the replay cache) are left out, so each figure is what the route costs.
 */

const otherAp = createTestIssuer({ dwk: DWK.agent, issuer: 'https://agent.example' });
const RESOURCE = 'https://resource.example';

let t: TestApp;
let log: QueryLog;
beforeAll(async () => {
  t = await startTestApp({
    remoteKeys: createLocalKeyResolver([otherAp]),
    wrapDatabase: (db) => {
      const recorded = recordQueries(db);
      log = recorded.log;
      return recorded.db;
    },
  });
});
afterAll(async () => {
  await t?.close();
});

const HOOK_TABLES = /"(?:public"\.")?(?:revocation|seen_agent_token)"|\breplay_entry\b/;

/** The statements the route sent (the hook's left out) while `send` ran. */
async function routeStatements(send: () => Promise<LightMyRequestResponse>) {
  log.clear();
  const response = await send();
  const statements = log.statements.filter((sql) => !HOOK_TABLES.test(sql));
  return { response, statements };
}

const reads = (statements: readonly string[], table: string) =>
  statements.filter((sql) => /^\s*SELECT/i.test(sql) && sql.includes(`"${table}"`)).length;

let sequence = 0;
function signed(agent: TestAgent, method: string, path: string, body?: Record<string, unknown>) {
  // A second apart, so no two requests share `created` (and a body member keeps them distinct).
  t.clock.advance(1000);
  sequence += 1;
  return sendSigned(t, {
    method,
    path,
    key: agent.key,
    signatureKey: agent.jwt,
    ...(body === undefined ? {} : { body: { ...body, n: sequence } }),
  });
}

describe('database round trips per request', () => {
  it('a warm POST /person (bound, consented) reads once and writes the token record once', async () => {
    const { agent } = await bindAgentWithPersonToken(t, otherAp, RESOURCE);
    for (let i = 0; i < 2; i++) {
      const { response, statements } = await routeStatements(() =>
        signed(agent, 'POST', '/person', { resource: RESOURCE }),
      );
      expect(response.statusCode).toBe(200);
      expect(statements).toHaveLength(2);
      expect(statements[0]).toMatch(/^\s*SELECT/);
      expect(statements[1]).toMatch(/^\s*INSERT INTO "person_token_record"/);
    }
  });

  it('GET, POST and DELETE of a pending URL read the pending request once', async () => {
    const agent = makeAgentToken({ issuer: otherAp, clock: t.clock, ps: ISSUER });
    const created = await signed(agent, 'POST', '/person', {
      resource: RESOURCE,
      capabilities: ['interaction'],
    });
    expect(created.statusCode).toBe(202);
    const path = pathOf(created);
    t.clock.advance(2000); // Retry-After, so the poll is not slow_down

    const polled = await routeStatements(() => signed(agent, 'GET', path));
    expect(polled.response.statusCode).toBe(202);
    expect(reads(polled.statements, 'pending_request')).toBe(1);

    // No question is open: refused after the one read (§Agent Response to Clarification).
    const answered = await routeStatements(() =>
      signed(agent, 'POST', path, { action: 'clarification_response', clarification_response: 'Hi.' }),
    );
    expect(answered.response.statusCode).toBe(400);
    expect(answered.response.json().error).toBe('invalid_request');
    expect(reads(answered.statements, 'pending_request')).toBe(1);

    const cancelled = await routeStatements(() => signed(agent, 'DELETE', path));
    expect(cancelled.response.statusCode).toBe(204);
    expect(reads(cancelled.statements, 'pending_request')).toBe(1);
  });
});
