import { createLocalKeyResolver, DWK } from '@aauth-ref/core';
import { createTestIssuer } from '@aauth-ref/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ISSUER, startTestApp, type TestApp } from './support/app-harness.js';
import {
  approve,
  bindAgentWithPersonToken,
  codeOf,
  decodeClaims,
  mintResourceToken,
  openCode,
  pathOf,
  poll,
  requestAuthToken,
} from './support/token-flow.js';

const agentProvider = createTestIssuer({ dwk: DWK.agent, issuer: 'https://agent.example' });
const resource = createTestIssuer({ dwk: DWK.resource, issuer: 'https://files.example' });
const keys = createLocalKeyResolver([agentProvider, resource]);

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ remoteKeys: keys });
});
afterAll(async () => {
  await t?.close();
});

// §Deferred Responses: pending state lives in the database, so a restart (or another instance)
// loses nothing — the consent given after the restart resolves the agent's next poll.
describe('restart with an auth token request pending', () => {
  it('the server is rebuilt on the same database, the person approves, the poll returns the auth token', async () => {
    const bound = await bindAgentWithPersonToken(t, agentProvider, resource.issuer);
    const pending = await requestAuthToken(t, bound.agent, {
      resource_token: mintResourceToken(t, resource, bound, { scope: 'data.read' }).jwt,
      capabilities: ['interaction'],
    });
    expect(pending.statusCode).toBe(202);

    await t.restart();

    const { browser, page } = await openCode(t, codeOf(pending));
    expect(page.statusCode).toBe(200);
    expect((await approve(browser, page)).statusCode).toBe(200);
    const answer = await poll(t, bound.agent, pathOf(pending));
    expect(answer.statusCode).toBe(200);
    const claims = decodeClaims(answer.json().auth_token as string);
    expect(claims).toMatchObject({
      iss: ISSUER,
      dwk: 'aauth-person.json',
      aud: resource.issuer,
      sub: bound.personToken.sub,
      scope: 'data.read',
    });
  });
});
