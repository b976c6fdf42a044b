import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newAgent, send, startTestApp, type TestAgent, type TestApp } from './support/app-harness.js';
import { interactionOf, pathOf, signedInBrowser } from './support/browser-flow.js';

/**
 * `Prefer: wait=N` at the resource's pending URLs (§Deferred Responses): a long poll bounded by the
 * resource (30 s), re-reading the record every 250 ms and answering as soon as the person acts. The
 * injected sleep never waits: it advances the fake clock and runs what a test scheduled for that tick.
 */

let t: TestApp;
let sleeps = 0;
let onSleep: ((n: number) => Promise<void>) | undefined;

beforeAll(async () => {
  t = await startTestApp(
    {},
    {
      pendingWait: {
        pollIntervalMs: 250,
        async sleep(ms) {
          sleeps++;
          t.clock.advance(ms);
          await onSleep?.(sleeps);
        },
      },
    },
  );
});
afterAll(async () => {
  await t?.close();
});

function reset(hook?: (n: number) => Promise<void>) {
  sleeps = 0;
  onSleep = hook;
}

async function startInteraction(agent: TestAgent) {
  const response = await send(t, {
    path: '/api/journal',
    key: agent.key,
    signatureKey: agent.agentToken,
    headers: { 'aauth-capabilities': 'interaction' },
  });
  expect(response.statusCode).toBe(202);
  return { pending: pathOf(response.headers.location), ...interactionOf(response) };
}

function poll(agent: TestAgent, path: string, prefer?: string) {
  return send(t, {
    path,
    key: agent.key,
    signatureKey: agent.agentToken,
    headers: prefer === undefined ? {} : { prefer },
  });
}

/** The person opens the code and decides (the browser's own requests, made during a sleep). */
async function personDecides(code: string, decision: 'approve' | 'deny') {
  const browser = await signedInBrowser(t, 'dana');
  const page = await browser.get(`/interaction?code=${encodeURIComponent(code)}`);
  expect(page.statusCode).toBe(200);
  const id = /name="request" value="([^"]+)"/.exec(page.body)![1]!;
  const done = await browser.post('/interaction', { _csrf: browser.csrf(page), request: id, decision });
  // No callback was given: the resource shows its own "you can close this page".
  expect(done.statusCode).toBe(200);
}

describe('Prefer: wait at the pending URL (§Deferred Responses)', () => {
  it('§Deferred Responses: a long poll answers 200 with AAuth-Access as soon as the person approves', async () => {
    const agent = newAgent(t);
    const { pending, code } = await startInteraction(agent);
    t.clock.advance(3_000);
    reset(async (n) => {
      if (n === 3) await personDecides(code, 'approve');
    });
    const response = await poll(agent, pending, 'wait=20');
    expect(response.statusCode).toBe(200);
    expect(response.headers['aauth-access']).toMatch(/^[A-Za-z0-9._~+/-]+=*$/);
    expect(response.json()).toEqual({ status: 'authorized', scope: 'notes.read' });
    // It returned on the change, not at the end of the wait.
    expect(sleeps).toBe(3);
  });

  it('§Deferred Responses: a denial during the wait is answered at once with denied', async () => {
    const agent = newAgent(t);
    const { pending, code } = await startInteraction(agent);
    t.clock.advance(3_000);
    reset(async (n) => {
      if (n === 2) await personDecides(code, 'deny');
    });
    const response = await poll(agent, pending, 'wait=10');
    expect(response.statusCode).toBe(403);
    expect(response.json().error).toBe('denied');
    expect(sleeps).toBe(2);
  });

  it('§Deferred Responses: opening the code ends the wait with 202 interacting', async () => {
    const agent = newAgent(t);
    const { pending, code } = await startInteraction(agent);
    t.clock.advance(3_000);
    reset(async (n) => {
      if (n === 1) {
        const browser = await signedInBrowser(t, 'dana');
        expect((await browser.get(`/interaction?code=${encodeURIComponent(code)}`)).statusCode).toBe(200);
      }
    });
    const response = await poll(agent, pending, 'wait=10');
    expect(response.statusCode).toBe(202);
    expect(response.json()).toEqual({ status: 'interacting' });
    expect(response.headers['aauth-requirement']).toBeUndefined();
    expect(sleeps).toBe(1);
  });

  it('§Deferred Responses: the wait is bounded by the resource (30 s), then 202 pending', async () => {
    const agent = newAgent(t);
    const { pending } = await startInteraction(agent);
    t.clock.advance(3_000);
    reset();
    const response = await poll(agent, pending, 'wait=3600');
    expect(response.statusCode).toBe(202);
    expect(response.json()).toEqual({ status: 'pending' });
    expect(response.headers['retry-after']).toBe('2');
    expect(response.headers['aauth-requirement']).toMatch(/^requirement=interaction;/);
    expect(sleeps).toBe((30 * 1000) / 250);
  });

  it('§Deferred Responses: Retry-After counts from the long poll’s answer, so the next poll is not slow_down', async () => {
    const agent = newAgent(t);
    const { pending } = await startInteraction(agent);
    t.clock.advance(3_000);
    reset();
    expect((await poll(agent, pending, 'wait=5')).statusCode).toBe(202);
    t.clock.advance(2_000);
    reset();
    const next = await poll(agent, pending);
    expect(next.statusCode).toBe(202);
    expect(sleeps).toBe(0);
  });

  it('§Deferred Responses: without Prefer, or with wait=0, the poll does not wait', async () => {
    const agent = newAgent(t);
    const { pending } = await startInteraction(agent);
    t.clock.advance(3_000);
    reset();
    expect((await poll(agent, pending)).statusCode).toBe(202);
    t.clock.advance(3_000);
    expect((await poll(agent, pending, 'wait=0')).statusCode).toBe(202);
    t.clock.advance(3_000);
    expect((await poll(agent, pending, 'wait=soon')).statusCode).toBe(202);
    expect(sleeps).toBe(0);
  });

  it('§Polling Error Codes: a long poll still gets slow_down when it comes before Retry-After', async () => {
    const agent = newAgent(t);
    const { pending } = await startInteraction(agent);
    reset();
    const response = await poll(agent, pending, 'wait=10');
    expect(response.statusCode).toBe(429);
    expect(response.json().error).toBe('slow_down');
    expect(sleeps).toBe(0);
  });

  it('§Deferred Responses: the request expiring during the wait ends it with expired', async () => {
    const agent = newAgent(t);
    const { pending } = await startInteraction(agent);
    t.clock.advance((t.config.PENDING_TTL_SECONDS - 1) * 1000);
    reset(async (n) => {
      if (n === 1) t.clock.advance(5_000);
    });
    const response = await poll(agent, pending, 'wait=10');
    expect(response.statusCode).toBe(408);
    expect(response.json().error).toBe('expired');
    expect(sleeps).toBe(1);
  });

  it('§Pending URL Security: another key long-polling the URL gets 404 without waiting', async () => {
    const agent = newAgent(t);
    const { pending } = await startInteraction(agent);
    t.clock.advance(3_000);
    reset();
    const response = await poll(newAgent(t), pending, 'wait=10');
    expect(response.statusCode).toBe(404);
    expect(sleeps).toBe(0);
  });
});
