import {
  DEV,
  Denied,
  DWK,
  decodeJwtUnverified,
  jwkThumbprint,
  parseAAuthRequirement,
  R3_VOCABULARY,
  TOKEN_TYP,
} from '@aauth-ref/core';
import { createFakeClock, type FakeClock, signedFetch } from '@aauth-ref/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimsOf, createTestAgent, resourceTokenOf, type TestAgent } from './support/agents.js';
import { defaultFourPartyPolicy, type FourPartyStack, startFourPartyStack } from './support/stack.js';

/**
 * Four-party access end to end (§Access Server Federation, §Detailed Flows): the agent SDK, the Person
 * Server, the auth server (the resource's Access Server) and the demo resource, each on its own
 * loopback port with its own database. The resource delegates its scopes to the AS, so its resource
 * tokens name the AS as `aud`; the PS forwards them to the AS (signing as itself with `jwks_uri`),
 * answers the AS's claims step from the person record, checks the auth token and hands it to the
 * agent. alice decides at the PS's pages over HTTP (person token consent, enrollment); the AS's
 * decisions come from its database policy, which trusts the PS.
 */

const NOTE_TEXT = 'Four parties, one note';

let clock: FakeClock;
let stack: FourPartyStack;
let alice: TestAgent;

const rsUrl = (path: string) => new URL(path, stack.rs.issuer).href;

beforeAll(async () => {
  clock = createFakeClock(Date.now());
  stack = await startFourPartyStack(clock);
  // alice at the PS; at the AS's own pages (binding) the AS's person carol.
  alice = createTestAgent({
    clock,
    account: (prompt) => (prompt.server === stack.as.issuer ? stack.as.carol : stack.alice),
  });
  await alice.agent.enroll(stack.ps.issuer, { name: 'Four-party helper', platform: 'e2e' });
});

afterAll(async () => {
  await stack?.close();
});

describe('four-party access over real HTTP (§Access Server Federation)', () => {
  it('GET /api/notes: resource token aud = AS, PS → AS, auth token iss = AS, aud = resource, cnf = agent key', async () => {
    const fromExchange = alice.exchanges.length;
    const fromFederation = stack.ps.federation.length;
    const res = await alice.agent.fetch(rsUrl('/api/notes'));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ notebook: 'personal', notes: [] });

    // The resource's challenge: 401 requirement=auth-token with a resource token addressed to the AS.
    const { key } = await alice.credentials();
    const challenge = alice.exchanges
      .slice(fromExchange)
      .find(
        (e) =>
          e.url === rsUrl('/api/notes') &&
          e.status === 401 &&
          resourceTokenOf(e.headers.get('aauth-requirement')),
      );
    const requirement = parseAAuthRequirement(challenge?.headers.get('aauth-requirement') ?? '', DEV);
    expect(requirement).toEqual({ requirement: 'auth-token', 'resource-token': expect.any(String) });
    const resourceToken = resourceTokenOf(challenge!.headers.get('aauth-requirement'))!;
    expect(resourceToken).toBe((requirement as { 'resource-token': string })['resource-token']);
    const personToken = (await alice.token('person', stack.rs.issuer))!;
    const person = claimsOf(personToken);
    expect(decodeJwtUnverified(resourceToken).header.typ).toBe(TOKEN_TYP.resource);
    expect(claimsOf(resourceToken)).toMatchObject({
      iss: stack.rs.issuer,
      aud: stack.as.issuer,
      ps: stack.ps.issuer,
      sub: person.sub,
      presented_jti: person.jti,
      agent_jkt: key.thumbprint,
      scope: 'notes.read',
      // The demo resource names its R3 document too (R3 §Resource Token Extensions).
      r3_uri: expect.any(String),
      r3_s256: expect.any(String),
    });

    // The PS forwarded it to the AS's auth_token_endpoint with the agent token, and the AS granted at once.
    const exchanges = stack.ps.federation.slice(fromFederation);
    expect(exchanges.map((e) => [e.method, new URL(e.url).origin, e.status])).toEqual([
      ['POST', stack.as.issuer, 200],
    ]);
    expect(exchanges[0]?.body).toEqual({ resource_token: resourceToken, agent_token: expect.any(String) });

    // The auth token the agent holds (§Auth Token Structure, four-party).
    const authToken = (await alice.token('auth', stack.rs.issuer))!;
    const { header, payload } = decodeJwtUnverified(authToken);
    expect(header.typ).toBe(TOKEN_TYP.auth);
    expect(payload).toMatchObject({
      iss: stack.as.issuer,
      dwk: DWK.access,
      aud: stack.rs.issuer,
      ps: stack.ps.issuer,
      sub: person.sub,
      scope: 'notes.read',
      // The AS's `r3` rules granted the document's operation (R3 §AS Processing steps 5–6).
      r3_uri: claimsOf(resourceToken).r3_uri,
      r3_s256: claimsOf(resourceToken).r3_s256,
      r3_granted: { vocabulary: R3_VOCABULARY.openapi, operations: [{ operationId: 'listNotes' }] },
    });
    // `sub` is the PS's directed identifier for this resource, not the person's account name.
    expect(payload.sub).not.toBe(stack.alice.username);
    expect(jwkThumbprint((payload.cnf as { jwk: Parameters<typeof jwkThumbprint>[0] }).jwk)).toBe(
      key.thumbprint,
    );
    expect(payload.exp as number).toBeLessThanOrEqual((payload.iat as number) + 3600);

    // The person consented once (the person token); the AS's policy decided the auth token alone.
    expect(alice.interactions.map((i) => [i.server, i.decision])).toEqual([
      [stack.ps.issuer, 'Approve'],
      [stack.ps.issuer, 'Approve'],
    ]);
    // The auth token is reused: no PS or AS round trip.
    expect((await alice.agent.fetch(rsUrl('/api/notes'))).status).toBe(200);
    expect(stack.ps.federation.length).toBe(fromFederation + 1);
  });

  it('POST /api/notes: step-up through the AS claims step (§Claims Required), the PS releases only email', async () => {
    const fromFederation = stack.ps.federation.length;
    const before = alice.interactions.length;
    const res = await alice.agent.fetch(rsUrl('/api/notes'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: NOTE_TEXT }),
    });
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ note: { notebook: 'personal', text: NOTE_TEXT } });

    const exchanges = stack.ps.federation.slice(fromFederation);
    // POST /token → 202 requirement=claims; POST {sub, email} to the pending URL → 202; GET → 200.
    expect(exchanges.map((e) => [e.method, e.status])).toEqual([
      ['POST', 202],
      ['POST', 202],
      ['GET', 200],
    ]);
    const [asked, answered] = exchanges;
    expect(asked?.headers['aauth-requirement']).toBe('requirement=claims');
    expect(asked?.headers['retry-after']).toBe('0');
    expect(asked?.headers['cache-control']).toBe('no-store');
    expect(asked?.response).toEqual({ status: 'pending', required_claims: ['email'] });
    const pendingUrl = new URL(asked!.headers.location!, asked!.url).href;
    expect(answered?.url).toBe(pendingUrl);
    expect(exchanges[2]?.url).toBe(pendingUrl);
    const sub = claimsOf((await alice.token('person', stack.rs.issuer))!).sub;
    expect(answered?.body).toEqual({ sub, email: 'alice@example.com' });

    const auth = claimsOf((await alice.token('auth', stack.rs.issuer))!);
    expect(auth).toMatchObject({ iss: stack.as.issuer, aud: stack.rs.issuer, sub });
    expect(String(auth.scope).split(' ').sort()).toEqual(['notes.read', 'notes.write']);
    // Scope and R3 decided independently: the claims step gated notes.write, the r3 rules createNote.
    expect(auth.r3_granted).toEqual({
      vocabulary: R3_VOCABULARY.openapi,
      operations: [{ operationId: 'listNotes' }, { operationId: 'createNote' }],
    });
    expect(alice.interactions.length).toBe(before);

    const list = await alice.agent.fetch(rsUrl('/api/notes'));
    expect(await list.json()).toMatchObject({ notes: [{ text: NOTE_TEXT }] });
  });

  it('a claim the policy does not accept: the AS denies after the claims step, the agent gets 403 denied', async () => {
    // No `r3` rules: the R3 request is decided by the scope rules alone (README *R3 operations*).
    await stack.as.setPolicy({
      resources: {
        [stack.rs.issuer]: {
          rules: [
            {
              scopes: ['notes.read'],
              when: { ps_trusted: true, claims: { email: { suffix: '@corp.example' } } },
              effect: 'grant',
            },
          ],
        },
      },
    });
    try {
      await alice.store.write('auth-tokens', {});
      const fromFederation = stack.ps.federation.length;
      const attempt = alice.agent.fetch(rsUrl('/api/notes'));
      await expect(attempt).rejects.toBeInstanceOf(Denied);
      await expect(attempt).rejects.toMatchObject({ error: 'denied', status: 403 });
      expect(stack.ps.federation.slice(fromFederation).map((e) => [e.method, e.status])).toEqual([
        ['POST', 202],
        ['POST', 202],
        ['GET', 403],
      ]);
      expect(await alice.token('auth', stack.rs.issuer)).toBeUndefined();
    } finally {
      await stack.as.setPolicy(defaultFourPartyPolicy({ ps: stack.ps.issuer, rs: stack.rs.issuer }));
    }
  });

  it('AS denial (policy deny) surfaces to the agent as 403 denied (§Access Server Federation)', async () => {
    await stack.as.setPolicy({
      resources: {
        [stack.rs.issuer]: { rules: [{ id: 'no-notes', scopes: ['notes.read'], effect: 'deny' }] },
      },
    });
    try {
      await alice.store.write('auth-tokens', {});
      const fromFederation = stack.ps.federation.length;
      const attempt = alice.agent.fetch(rsUrl('/api/notes'));
      await expect(attempt).rejects.toBeInstanceOf(Denied);
      await expect(attempt).rejects.toMatchObject({ error: 'denied', status: 403 });
      const exchanges = stack.ps.federation.slice(fromFederation);
      expect(exchanges.map((e) => [e.method, e.status])).toEqual([['POST', 403]]);
      expect(exchanges[0]?.response).toMatchObject({ error: 'denied' });
    } finally {
      await stack.as.setPolicy(defaultFourPartyPolicy({ ps: stack.ps.issuer, rs: stack.rs.issuer }));
    }
  });

  it('an untrusted PS: the same request, with the PS off the trust list, is denied', async () => {
    await stack.as.setPolicy({
      ...defaultFourPartyPolicy({ ps: stack.ps.issuer, rs: stack.rs.issuer }),
      trusted_person_servers: [],
    });
    try {
      await alice.store.write('auth-tokens', {});
      await expect(alice.agent.fetch(rsUrl('/api/notes'))).rejects.toMatchObject({
        error: 'denied',
        status: 403,
      });
    } finally {
      await stack.as.setPolicy(defaultFourPartyPolicy({ ps: stack.ps.issuer, rs: stack.rs.issuer }));
    }
    // Trusted again: granted without any interaction.
    const before = alice.interactions.length;
    expect((await alice.agent.fetch(rsUrl('/api/notes'))).status).toBe(200);
    expect(alice.interactions.length).toBe(before);
  });

  it('an AS policy without r3 rules: the scope rules decide, the token has no R3 claims, the resource enforces its scope', async () => {
    const { r3: _r3, ...scopeOnly } = defaultFourPartyPolicy({ ps: stack.ps.issuer, rs: stack.rs.issuer })
      .resources[stack.rs.issuer]!;
    await stack.as.setPolicy({
      trusted_person_servers: [stack.ps.issuer],
      resources: { [stack.rs.issuer]: scopeOnly },
    });
    try {
      await alice.store.write('auth-tokens', {});
      const res = await alice.agent.fetch(rsUrl('/api/notes'));
      expect(res.status).toBe(200);
      const auth = claimsOf((await alice.token('auth', stack.rs.issuer))!);
      expect(auth).toMatchObject({ iss: stack.as.issuer, scope: 'notes.read' });
      for (const name of ['r3_uri', 'r3_s256', 'r3_granted', 'r3_per_call'])
        expect(auth[name]).toBeUndefined();
    } finally {
      await stack.as.setPolicy(defaultFourPartyPolicy({ ps: stack.ps.issuer, rs: stack.rs.issuer }));
    }
  });

  it('R3 with the AS interaction step: the PS shows the R3 document, the person continues to the AS and binds (R3 §R3 Processing)', async () => {
    await stack.as.setPolicy({
      ...defaultFourPartyPolicy({ ps: stack.ps.issuer, rs: stack.rs.issuer }),
      resources: {
        [stack.rs.issuer]: {
          ...defaultFourPartyPolicy({ ps: stack.ps.issuer, rs: stack.rs.issuer }).resources[stack.rs.issuer]!,
          rules: [{ id: 'read-bound', scopes: ['notes.read'], require: ['interaction'], effect: 'grant' }],
        },
      },
    });
    try {
      await alice.store.write('auth-tokens', {});
      const fromFederation = stack.ps.federation.length;
      const fromExchange = alice.exchanges.length;
      const before = alice.interactions.length;
      const res = await alice.agent.fetch(rsUrl('/api/notes'));
      expect(res.status).toBe(200);

      // The agent was sent to the PS's own page (not the AS's), which continued to the AS.
      expect(alice.interactions.slice(before).map((i) => [i.server, i.continuedTo, i.decision])).toEqual([
        [stack.ps.issuer, stack.as.issuer, 'Approve'],
      ]);
      expect(new URL(alice.interactions[before]!.url).origin).toBe(stack.ps.issuer);
      // The PS page rendered the document's `display` and linked on to the AS.
      expect(alice.interactions[before]?.shown).toContain('Read the notes in your');
      expect(alice.interactions[before]?.shown).toContain(`Continue to ${stack.as.issuer}`);
      const challenge = alice.exchanges
        .slice(fromExchange)
        .find((e) => e.status === 401 && resourceTokenOf(e.headers.get('aauth-requirement')));
      const resourceClaims = claimsOf(resourceTokenOf(challenge!.headers.get('aauth-requirement'))!);
      expect(resourceClaims).toMatchObject({ aud: stack.as.issuer, r3_uri: expect.any(String) });

      // PS → AS: 202 requirement=interaction first, the auth token at last.
      const exchanges = stack.ps.federation.slice(fromFederation);
      expect([exchanges[0]?.method, exchanges[0]?.status]).toEqual(['POST', 202]);
      expect(
        exchanges[0]?.headers['aauth-requirement']?.startsWith(
          `requirement=interaction;url="${stack.as.issuer}/interaction";code="`,
        ),
      ).toBe(true);
      expect([exchanges.at(-1)?.method, exchanges.at(-1)?.status]).toEqual(['GET', 200]);

      // The AS's token carries the R3 grant on the document the resource named (R3 §AS Processing step 6).
      const auth = claimsOf((await alice.token('auth', stack.rs.issuer))!);
      expect(auth).toMatchObject({
        iss: stack.as.issuer,
        scope: 'notes.read',
        r3_uri: resourceClaims.r3_uri,
        r3_s256: resourceClaims.r3_s256,
        r3_granted: { vocabulary: R3_VOCABULARY.openapi, operations: [{ operationId: 'listNotes' }] },
      });
    } finally {
      await stack.as.setPolicy(defaultFourPartyPolicy({ ps: stack.ps.issuer, rs: stack.rs.issuer }));
    }
  });

  it('alice revokes the AS-issued auth token at the PS: the PS notifies the resource, which refuses it (§Token Revocation)', async () => {
    const authToken = (await alice.token('auth', stack.rs.issuer))!;
    const { iss, jti } = claimsOf(authToken);
    expect(iss).toBe(stack.as.issuer);
    const dashboard = await alice.browser.openSignedIn(`${stack.ps.issuer}/dashboard`, stack.alice);
    const after = await alice.browser.submit(
      dashboard,
      'Revoke',
      {},
      (form) => form.fields.get('jti') === jti,
    );
    expect([after.url.pathname, after.status]).toEqual(['/dashboard', 200]);
    await alice.browser.signOut(stack.ps.issuer);

    // The PS, not the issuer, revokes at the resource a token it provided for its own person (`ps`).
    const notice = await stack.ps.outbound.waitFor(
      (call) => (call.body as { jti?: unknown } | undefined)?.jti === jti,
    );
    expect(notice).toMatchObject({ url: `${stack.rs.issuer}/revoke`, body: { iss, jti }, status: 200 });
    const { key } = await alice.credentials();
    const refused = await signedFetch(rsUrl('/api/notes'), { key, signatureKey: authToken, clock });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('signature-error')).toBe('error=invalid_jwt');
  });
});
