import { DEV, parseAAuthRequirement } from '@aauth-ref/core';
import { createFakeClock, type FakeClock } from '@aauth-ref/testkit';
import { chromiumSkipReason } from '@aauth-ref/testkit/browser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimsOf, createTestAgent, type TestAgent } from './support/agents.js';
import { ChromiumPerson } from './support/chromium-person.js';
import {
  demoAlice,
  type PersonServer,
  type RunningServer,
  startPersonServer,
  startResourceServer,
} from './support/stack.js';

/**
 * Call chaining and interaction chaining end to end (§Call Chaining, §Directed Identifiers Across a
 * Chain, §Interaction Chaining) with the real Person Server: two instances of the demo resource, each
 * on its own port with its own database and keys — the upstream configured with
 * `DOWNSTREAM_RESOURCE` = the downstream. The agent (real SDK) calls the upstream's `/chain/notes`;
 * the upstream, an agent in its own right (its own Agent Provider), asks alice's PS for a person
 * token and then an auth token for the downstream, each with `upstream_token`. The first time the PS
 * needs alice's consent for the upstream at the downstream: the upstream answers its own `202
 * requirement=interaction`, alice follows the upstream's code in Chromium to the PS and approves, and
 * the agent's poll of the upstream's pending URL completes with the downstream's data.
 */

const skipReason = chromiumSkipReason();
const NOTE_TEXT = 'Oat milk, from the downstream notebook';

let clock: FakeClock;
let ps: PersonServer;
let downstream: RunningServer;
let upstream: RunningServer;
let person: ChromiumPerson;
let test: TestAgent;
let alice: ReturnType<typeof demoAlice>;
/** Where each decision was made (the origin of the interaction page alice clicked on). */
const decidedAt: string[] = [];

const chainUrl = () => `${upstream.issuer}/chain/notes`;
const exchangesFrom = (from: number) => test.exchanges.slice(from);

beforeAll(async () => {
  if (skipReason !== undefined) return;
  clock = createFakeClock(Date.now());
  [ps, downstream, person] = await Promise.all([
    startPersonServer(clock),
    startResourceServer(clock),
    ChromiumPerson.launch(),
  ]);
  upstream = await startResourceServer(clock, { env: { DOWNSTREAM_RESOURCE: downstream.issuer } });
  alice = demoAlice();
  // Setting up (enrollment, the note) alice decides over HTTP; the chained interactions in Chromium.
  test = createTestAgent({ clock, account: alice });
  await test.agent.enroll(ps.issuer, { name: 'Chain caller', platform: 'e2e' });
}, 60_000);

afterAll(async () => {
  await person?.close();
  await Promise.all([upstream?.close(), downstream?.close(), ps?.close()]);
});

describe.skipIf(skipReason !== undefined)(
  `call chaining between two resource instances${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  { timeout: 40_000 },
  () => {
    it('the agent writes a note at the downstream resource itself (its own auth token there)', async () => {
      const res = await test.agent.fetch(`${downstream.issuer}/api/notes`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text: NOTE_TEXT }),
      });
      expect(res.status).toBe(201);
      // Enrollment, then the person token's first exposure and the scope, all on the PS's pages.
      expect(test.interactions.map((i) => i.server)).toEqual([ps.issuer, ps.issuer, ps.issuer]);
      test.person = async (prompt, decision, account) => {
        const { origin, status } = await person.decide(prompt, account, {
          decision: decision === 'Deny' ? 'Deny' : 'Approve',
          ps: ps.issuer,
        });
        expect(status).toBe(200);
        decidedAt.push(origin);
      };
    });

    it('§Interaction Chaining: the upstream surfaces its own 202 requirement=interaction; alice follows it to the PS; the poll completes', async () => {
      const from = test.exchanges.length;
      const prompted = test.interactions.length;
      const decisions = decidedAt.length;
      const res = await test.agent.fetch(chainUrl());
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({
        downstream: downstream.issuer,
        result: { notebook: 'personal', notes: [expect.objectContaining({ text: NOTE_TEXT })] },
      });

      // alice consented twice for the agent at the upstream (person token, scope: the PS's own
      // pages), then twice for the upstream at the downstream (person token, auth token), each time
      // through the upstream's code.
      expect(test.interactions.slice(prompted).map((i) => [i.server, i.url])).toEqual([
        [ps.issuer, `${ps.issuer}/interaction`],
        [ps.issuer, `${ps.issuer}/interaction`],
        [upstream.issuer, `${upstream.issuer}/chain/interaction`],
        [upstream.issuer, `${upstream.issuer}/chain/interaction`],
      ]);
      // The upstream's interaction URL sent her on to the PS, where she decided.
      expect(decidedAt.slice(decisions)).toEqual([ps.issuer, ps.issuer, ps.issuer, ps.issuer]);

      const exchanges = exchangesFrom(from);
      const chained = exchanges.filter((e) => e.url === chainUrl() && e.status === 202);
      expect(chained).toHaveLength(1);
      const first = chained[0]!;
      expect(first.headers.get('cache-control')).toBe('no-store');
      expect(Number(first.headers.get('retry-after'))).toBeGreaterThanOrEqual(0);
      const location = new URL(first.headers.get('location')!, upstream.issuer);
      expect(location.origin).toBe(upstream.issuer);
      expect(location.pathname).toMatch(/^\/chain\/pending\/[A-Za-z0-9_-]+$/);
      // §Interaction Chaining: "its own AAuth-Requirement header containing requirement=interaction and its own interaction code".
      const requirement = parseAAuthRequirement(first.headers.get('aauth-requirement') ?? '', DEV);
      expect(requirement).toMatchObject({
        requirement: 'interaction',
        url: `${upstream.issuer}/chain/interaction`,
        // §Interaction Code Format: Crockford base32, at least 8 symbols (hyphens presentational only).
        code: expect.stringMatching(/^(?:[0-9A-HJKMNP-TV-Z]-?){7,}[0-9A-HJKMNP-TV-Z]$/),
      });
      const codes = test.interactions.slice(prompted + 2).map((i) => i.code);
      expect(new Set(codes).size).toBe(2);
      // The PS's codes never reach the agent: the upstream hands out codes of its own and keeps the
      // PS's, to send alice on with (its chained_request, in its own database).
      const stored = await upstream.db.exec<{ own: string; theirs: string; status: string }>(
        'SELECT interaction_code AS own, ps_interaction_code AS theirs, status FROM chained_request',
      );
      expect(stored).toHaveLength(1);
      expect(stored[0]!.status).toBe('done');
      expect(codes.map((c) => c.replaceAll('-', ''))).toContain(stored[0]!.own);
      expect(codes.map((c) => c.replaceAll('-', ''))).not.toContain(stored[0]!.theirs.replaceAll('-', ''));

      // Before directing alice the SDK offered each upstream interaction to the PS, which had no live
      // session of hers (she signs out after each decision): 424 interaction_unavailable (§Interaction Endpoint Errors).
      const relays = exchanges.filter((e) => new URL(e.url).pathname === '/agent-interaction');
      expect(relays.map((e) => [e.status, JSON.parse(e.body).error])).toEqual([
        [424, 'interaction_unavailable'],
        [424, 'interaction_unavailable'],
      ]);

      // Every poll of the upstream's pending URL was signed by the agent and presented its auth token.
      const polls = exchanges.filter((e) => e.url === location.href);
      expect(polls.length).toBeGreaterThanOrEqual(2);
      expect(polls.at(-1)!.status).toBe(200);
      const upstreamAuth = (await test.token('auth', upstream.issuer))!;
      for (const poll of polls) expect(poll.requestHeaders['signature-key']).toContain(upstreamAuth);
    });

    it('§Directed Identifiers Across a Chain: the downstream sees a sub of its own, never the upstream’s', async () => {
      const chainAgent = `aauth:notes-chain@${new URL(upstream.issuer).host}`;
      const subjects = await ps.db.exec<{ resource: string; sub: string }>(
        `SELECT d.resource, d.sub FROM directed_subject d JOIN person p ON p.id = d.person_id
          WHERE p.username = 'alice' ORDER BY d.resource`,
      );
      const subAt = Object.fromEntries(subjects.map((s) => [s.resource, s.sub]));
      const upstreamSub = subAt[upstream.issuer];
      const downstreamSub = subAt[downstream.issuer];
      expect(upstreamSub).toEqual(expect.any(String));
      expect(downstreamSub).toEqual(expect.any(String));
      expect(downstreamSub).not.toBe(upstreamSub);

      // The agent's own auth token at the upstream, the upstream_token of the chain.
      const upstreamAuth = claimsOf((await test.token('auth', upstream.issuer))!);
      expect(upstreamAuth).toMatchObject({ iss: ps.issuer, aud: upstream.issuer, sub: upstreamSub });

      // The PS's records (§Person Token Endpoint retention, issued auth tokens): the upstream asked as
      // itself (its agent token, iss = its resource identifier) for the downstream, and got alice's
      // downstream-directed sub.
      const personTokens = await ps.db.exec<{ agent_iss: string; agent_sub: string; sub: string }>(
        'SELECT agent_iss, agent_sub, sub FROM person_token_record WHERE resource = $1 AND agent_iss = $2',
        [downstream.issuer, upstream.issuer],
      );
      expect(personTokens).toEqual([
        { agent_iss: upstream.issuer, agent_sub: chainAgent, sub: downstreamSub },
      ]);
      const authTokens = await ps.db.exec<{ jti: string; sub: string; scope: string; agent_sub: string }>(
        'SELECT jti, sub, scope, agent_sub FROM issued_auth_token WHERE aud = $1 AND agent_iss = $2',
        [downstream.issuer, upstream.issuer],
      );
      expect(authTokens).toEqual([
        { jti: expect.any(String), sub: downstreamSub, scope: 'notes.read', agent_sub: chainAgent },
      ]);
      // The PS remembered alice's consents for the upstream at the downstream.
      const consents = await ps.db.exec<{ agent_sub: string; resource: string }>(
        'SELECT agent_sub, resource FROM resource_consent WHERE agent_iss = $1',
        [upstream.issuer],
      );
      expect(consents).toEqual([{ agent_sub: chainAgent, resource: downstream.issuer }]);

      // What the downstream itself recorded: the chain's auth token under alice's downstream sub —
      // the same sub the agent's own token there carried — and never the upstream's.
      const seen = await downstream.db.exec<{ jti: string; iss: string; sub: string; ps: string }>(
        'SELECT jti, iss, sub, ps FROM auth_token_record ORDER BY seen_at',
      );
      expect(seen.map((r) => r.sub)).not.toContain(upstreamSub);
      expect(seen.find((r) => r.jti === authTokens[0]!.jti)).toEqual({
        jti: authTokens[0]!.jti,
        iss: ps.issuer,
        sub: downstreamSub,
        ps: ps.issuer,
      });
      const agentAtDownstream = claimsOf((await test.token('auth', downstream.issuer))!);
      expect(agentAtDownstream.sub).toBe(downstreamSub);
      const upstreamSeen = await upstream.db.exec<{ sub: string }>(
        'SELECT DISTINCT sub FROM auth_token_record',
      );
      expect(upstreamSeen).toEqual([{ sub: upstreamSub }]);
    });

    it('§Call Chaining: the next call reuses alice’s consent to the upstream at the downstream', async () => {
      const from = test.exchanges.length;
      const prompted = test.interactions.length;
      const chainAgent = `aauth:notes-chain@${new URL(upstream.issuer).host}`;
      const pendingOf = (kind: string) =>
        ps.db.exec<{ r3: boolean }>(
          `SELECT (request->'plan'->'r3') IS NOT NULL AS r3 FROM pending_request
            WHERE kind = $1 AND agent_sub = $2 ORDER BY created_at`,
          [kind, chainAgent],
        );
      const personTokenRequests = (await pendingOf('person_token')).length;
      const authTokenRequests = (await pendingOf('auth_token')).length;

      const res = await test.agent.fetch(chainUrl());
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({
        downstream: downstream.issuer,
        result: { notebook: 'personal', notes: [expect.objectContaining({ text: NOTE_TEXT })] },
      });

      // The person token for the downstream came at once: the PS remembered alice's consent to the
      // upstream acting as her there (§Person Token Exposure), so no pending request for it.
      expect((await pendingOf('person_token')).length).toBe(personTokenRequests);
      // The auth token came at once too: her decision on the downstream's R3 class document is
      // remembered by its r3_s256 with her scope consent (docs/spec-decisions.md), so nobody is asked.
      expect((await pendingOf('auth_token')).length).toBe(authTokenRequests);
      expect(test.interactions.slice(prompted)).toEqual([]);
      const first = exchangesFrom(from)[0]!;
      expect([first.url, first.status]).toEqual([chainUrl(), 200]);

      // A fresh downstream auth token for each chained call, always alice's downstream sub.
      const tokens = await ps.db.exec<{ sub: string }>(
        'SELECT sub FROM issued_auth_token WHERE aud = $1 AND agent_iss = $2',
        [downstream.issuer, upstream.issuer],
      );
      expect(tokens).toHaveLength(2);
      expect(new Set(tokens.map((t) => t.sub)).size).toBe(1);
    });
  },
);
