import type { InteractionPrompt } from '@aauth-ref/agent';
import { decodeJwtUnverified, jwkThumbprint, MissionTerminated } from '@aauth-ref/core';
import { createFakeClock, type FakeClock } from '@aauth-ref/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestAgent, type TestAgent } from './support/agents.js';
import { type Stack, startStack } from './support/stack.js';

/**
 * A mission end to end (§Mission) with the real SDK over real HTTP: the agent proposes a mission
 * naming the demo resource, alice approves it on the PS's review page, the agent verifies the
 * approval (s256 over the decoded blob, its own identifier in the blob, the returned person token),
 * uses the mission at the resource (the auth token carries `mission_s256`), records an update,
 * proposes completion, and alice accepts it from her missions page. A second mission is revoked by
 * alice and the agent's next request under it is answered `mission_terminated`.
 */

let clock: FakeClock;
let stack: Stack;
let test: TestAgent;
/** Called on every wait of the agent; `gate` holds the agent at its next wait while the person acts. */
let onWait: (() => void) | undefined;
let gate: Promise<void> | undefined;
/** The description alice keeps on the mission review page (the browser helper does not read textareas). */
let description = '';

/** alice approves a mission proposal on the PS's review page, keeping the proposed description. */
async function approveMission(prompt: InteractionPrompt): Promise<void> {
  const page = await test.browser.openSignedIn(
    `${prompt.url}?code=${encodeURIComponent(prompt.code)}`,
    stack.alice,
  );
  const after = await test.browser.submit(page, 'Approve', { description }, 'Your decision');
  expect(after.status).toBe(200);
  await test.browser.signOut(stack.ps.issuer);
}

/** Proposes a mission; alice reviews it in place of the default decision (`Ignore` runs `approveMission`). */
async function propose(proposal: Parameters<TestAgent['agent']['proposeMission']>[0]) {
  description = proposal.description;
  test.decide = 'Ignore';
  try {
    return await test.agent.proposeMission(proposal);
  } finally {
    test.decide = 'Approve';
  }
}

beforeAll(async () => {
  clock = createFakeClock();
  stack = await startStack(clock);
  test = createTestAgent({
    clock,
    account: stack.alice,
    onIgnore: approveMission,
    agent: {
      sleep: async (ms) => {
        clock.advance(ms);
        onWait?.();
        if (gate) await gate;
        else await new Promise((resolve) => setImmediate(resolve));
      },
    },
  });
  await test.agent.enroll(stack.ps.issuer, { name: 'Mission helper', platform: 'e2e' });
}, 180_000);

afterAll(async () => {
  await stack?.close();
});

/** Holds the agent at its next wait on a pending URL, lets `act` run, then lets it go on. */
async function whileAgentWaits<T>(start: () => Promise<T>, act: () => Promise<void>): Promise<T> {
  let release!: () => void;
  gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const waiting = new Promise<void>((resolve) => {
    onWait = resolve;
  });
  const result = start();
  try {
    await Promise.race([waiting, result]);
    await act();
  } finally {
    onWait = undefined;
    gate = undefined;
    release();
  }
  return result;
}

describe('missions end to end (§Mission)', { timeout: 120_000 }, () => {
  let s256: string;

  it('proposes a mission naming the resource; alice approves; the approval verifies and its person token is used', async () => {
    const rs = stack.rs.issuer;
    const mission = await propose({
      description: '# Shopping list\n\nKeep my shopping list in my notes.',
      tools: [{ name: 'Notes', description: 'Read and write notes' }],
      resources: [rs],
    });
    s256 = mission.s256;
    expect(mission.agent).toBe((await test.agent.whoami()).agent);
    expect(mission.approver).toBe(stack.ps.issuer);
    expect(mission.approved_resources).toEqual([rs]);
    expect(mission.person_token_resources).toEqual([rs]);
    expect(mission.status).toBe('active');
    const personToken = await test.token('person', `${rs}#${s256}`);
    expect(personToken).toBeDefined();
    expect(decodeJwtUnverified(personToken!).payload.mission_s256).toBe(s256);

    const before = test.exchanges.filter((e) => new URL(e.url).pathname === '/person').length;
    const response = await test.agent.fetch(`${rs}/api/notes`);
    expect(response.status).toBe(200);
    // The approval's person token was presented: no separate person token request.
    expect(test.exchanges.filter((e) => new URL(e.url).pathname === '/person').length).toBe(before);
    const authToken = await test.token('auth', rs);
    expect(decodeJwtUnverified(authToken!).payload.mission_s256).toBe(s256);
    // §AAuth-Capabilities: the PS's approval capabilities joined the agent's own on resource requests.
    const atResource = test.exchanges.filter((e) => e.url.startsWith(rs));
    expect(atResource.at(-1)!.requestHeaders['aauth-capabilities']).toContain('interaction');
  });

  it('records an accepted update (§Mission Update)', async () => {
    const update = await test.agent.updateMission('Also keep the pantry inventory.');
    expect(update.s256).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((await test.agent.mission(s256))?.updates).toEqual([
      { s256: update.s256, description: 'Also keep the pantry inventory.' },
    ]);
  });

  it('proposes completion; alice accepts it on her missions page; the mission has ended (§Mission Completion)', async () => {
    const completion = await whileAgentWaits(
      () => test.agent.completeMission('Kept the list for a week.'),
      async () => {
        const missions = await test.browser.openSignedIn(new URL('/missions', stack.ps.issuer), stack.alice);
        const link = /href="(\/interaction\/requests\/[^"]+)"/.exec(missions.html)?.[1];
        expect(link).toBeDefined();
        const review = await test.browser.open(new URL(link!, stack.ps.issuer));
        const after = await test.browser.submit(review, 'Accept');
        expect(after.status).toBe(200);
        await test.browser.signOut(stack.ps.issuer);
      },
    );
    expect(completion).toEqual({ s256, mission_status: 'terminated', termination_reason: 'completed' });
    await expect(test.agent.fetch(`${stack.rs.issuer}/api/notes`)).rejects.toBeInstanceOf(MissionTerminated);
  });

  it('a mission alice revoked is answered mission_terminated with its reason (§Mission Status Errors)', async () => {
    const mission = await propose({ description: '# Another errand' });
    const missions = await test.browser.openSignedIn(new URL('/missions', stack.ps.issuer), stack.alice);
    const revoked = await test.browser.submit(missions, 'Revoke', {}, `Revoke mission ${mission.s256}`);
    expect(revoked.status).toBeLessThan(400);
    await test.browser.signOut(stack.ps.issuer);
    const failure = test.agent.updateMission('still going');
    await expect(failure).rejects.toBeInstanceOf(MissionTerminated);
    await expect(failure).rejects.toMatchObject({
      status: 403,
      extra: { mission_status: 'terminated', termination_reason: 'revoked' },
    });
    expect(await test.agent.mission(mission.s256)).toMatchObject({
      status: 'terminated',
      termination_reason: 'revoked',
    });
  });
});

describe('sub-agents end to end (§Sub-Agents)', { timeout: 120_000 }, () => {
  it('a sub-agent signs with its own key; the parent obtains its person and auth tokens with subagent_token', async () => {
    test.agent.useMission(undefined);
    const parent = await test.agent.whoami();
    const sub = await test.agent.createSubAgent('worker');
    expect(sub.parent_agent).toBe(parent.agent);
    expect(sub.agent).toBe(parent.agent.replace('@', '+worker@'));

    const response = await test.agent.subAgent('worker').fetch(`${stack.rs.issuer}/api/notes`);
    expect(response.status).toBe(200);
    // The auth token the resource accepted binds the sub-agent's key, not the parent's.
    const cached = await test.store.read('auth-tokens');
    const authToken = cached?.[`${stack.rs.issuer} as worker`]?.token;
    expect(authToken).toBeDefined();
    const cnf = decodeJwtUnverified(authToken!).payload.cnf as { jwk: Parameters<typeof jwkThumbprint>[0] };
    expect(jwkThumbprint(cnf.jwk)).toBe(sub.key_thumbprint);
    expect(cached?.[`${stack.rs.issuer} as worker`]?.jkt).toBe(sub.key_thumbprint);
    // The PS was called by the parent only, with the sub-agent's token in the body.
    const psCalls = test.exchanges.filter(
      (e) => e.url.startsWith(stack.ps.issuer) && ['/person', '/token'].includes(new URL(e.url).pathname),
    );
    expect(psCalls.length).toBeGreaterThan(0);
  });
});
