import { injectBuilt } from '@aauth-ref/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  authToken,
  buildRequest,
  decodePayload,
  newAgent,
  personToken,
  resourceTokenOf,
  send,
  sendUnsigned,
  startTestApp,
  type TestAgent,
  type TestApp,
} from './support/app-harness.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.close();
});

const BODY_COMPONENTS = ['content-type', 'content-digest'];

/** An agent whose person token this resource has verified (so its PS is known). */
async function agentWithPerson(
  sub = 'alice',
  mission_s256?: string,
): Promise<TestAgent & { personJti: string }> {
  const agent = newAgent(t);
  const personJti = `pt-${sub}-${Math.random().toString(36).slice(2)}`;
  const jwt = personToken(t, agent.key, { sub, jti: personJti, ...(mission_s256 ? { mission_s256 } : {}) });
  const response = await send(t, { path: '/api/me', key: agent.key, signatureKey: jwt });
  expect(response.statusCode).toBe(200);
  return { ...agent, personJti };
}

function postNote(agent: TestAgent, token: string, text: string) {
  return send(t, {
    method: 'POST',
    path: '/api/notes',
    key: agent.key,
    signatureKey: token,
    body: { text },
    additionalComponents: BODY_COMPONENTS,
  });
}

describe('notes API — PS authorization (three-party)', () => {
  it('happy path: person token → challenge → auth token → write and read', async () => {
    const agent = newAgent(t);
    const challenge = await send(t, {
      path: '/api/notes',
      key: agent.key,
      signatureKey: personToken(t, agent.key, { sub: 'happy' }),
    });
    expect(challenge.statusCode).toBe(401);
    const resourceToken = decodePayload(resourceTokenOf(challenge));
    expect(resourceToken).toMatchObject({
      aud: t.ps.issuer,
      ps: t.ps.issuer,
      sub: 'happy',
      scope: 'notes.read',
    });

    const token = authToken(t, agent.key, { sub: 'happy', scope: 'notes.read notes.write' });
    const created = await postNote(agent, token, 'buy milk');
    expect(created.statusCode).toBe(201);
    expect(created.json().note).toMatchObject({ notebook: 'personal', text: 'buy milk' });

    const list = await send(t, { path: '/api/notes', key: agent.key, signatureKey: token });
    expect(list.statusCode).toBe(200);
    expect(list.json()).toMatchObject({ notebook: 'personal', notes: [{ text: 'buy milk' }] });
  });

  it('§Auth Token Required: a person token → 401 auth-token whose resource token names it', async () => {
    const agent = newAgent(t);
    const mission = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
    const jwt = personToken(t, agent.key, {
      sub: 'pt-only',
      jti: 'pt-only-1',
      mission_s256: mission,
      tenant: 'acme',
    });
    const response = await send(t, { path: '/api/notes', key: agent.key, signatureKey: jwt });
    expect(response.statusCode).toBe(401);
    expect(response.headers['aauth-requirement']).toMatch(/^requirement=auth-token;resource-token="[^"]+"$/);
    expect(response.headers['signature-error']).toBeUndefined();
    expect(decodePayload(resourceTokenOf(response))).toMatchObject({
      presented_jti: 'pt-only-1',
      agent_jkt: agent.key.thumbprint,
      mission_s256: mission,
      tenant: 'acme',
      scope: 'notes.read',
    });
  });

  it('§Person Token Is Not Authorization: a person token is refused where an auth token is required, even on POST', async () => {
    const agent = newAgent(t);
    const response = await postNote(agent, personToken(t, agent.key), 'sneaky');
    expect(response.statusCode).toBe(401);
    expect(decodePayload(resourceTokenOf(response))).toMatchObject({ scope: 'notes.write' });
    expect(await t.prisma.note.count({ where: { text: 'sneaky' } })).toBe(0);
  });

  it('an agent token with a recorded person token for that key → 401 auth-token naming the recorded token', async () => {
    const agent = await agentWithPerson('recorded');
    const response = await send(t, { path: '/api/notes', key: agent.key, signatureKey: agent.agentToken });
    expect(response.statusCode).toBe(401);
    expect(decodePayload(resourceTokenOf(response))).toMatchObject({
      sub: 'recorded',
      presented_jti: agent.personJti,
      agent_jkt: agent.key.thumbprint,
    });
  });

  it('an agent token with no recorded person token → 401 requirement=person-token, never a resource token', async () => {
    const agent = newAgent(t);
    const response = await send(t, { path: '/api/notes', key: agent.key, signatureKey: agent.agentToken });
    expect(response.statusCode).toBe(401);
    expect(response.headers['aauth-requirement']).toBe('requirement=person-token');
  });

  it('a recorded person token of another key is never used', async () => {
    await agentWithPerson('someone');
    const stranger = newAgent(t);
    const response = await send(t, {
      path: '/api/notes',
      key: stranger.key,
      signatureKey: stranger.agentToken,
    });
    expect(response.headers['aauth-requirement']).toBe('requirement=person-token');
  });

  it('unsigned → 401 requirement=person-token', async () => {
    for (const method of ['GET', 'POST']) {
      const response = await sendUnsigned(t, {
        method,
        path: '/api/notes',
        ...(method === 'POST' ? { body: { text: 'x' } } : {}),
      });
      expect(response.statusCode).toBe(401);
      expect(response.headers['aauth-requirement']).toBe('requirement=person-token');
    }
  });

  it('step-up: insufficient scope → a NEW 401 auth-token with a fresh resource token, not a 403', async () => {
    const agent = await agentWithPerson('stepper');
    const readOnly = authToken(t, agent.key, { sub: 'stepper', scope: 'notes.read', account: 'work' });
    expect((await send(t, { path: '/api/notes', key: agent.key, signatureKey: readOnly })).statusCode).toBe(
      200,
    );
    const response = await postNote(agent, readOnly, 'needs write');
    expect(response.statusCode).toBe(401);
    const claims = decodePayload(resourceTokenOf(response));
    expect(claims).toMatchObject({
      sub: 'stepper',
      presented_jti: agent.personJti,
      scope: 'notes.read notes.write',
      account: 'work',
    });
  });

  it('step-up without a recorded person token for that person → 401 requirement=person-token', async () => {
    const agent = await agentWithPerson('stepper-2');
    const other = authToken(t, agent.key, { sub: 'not-recorded', scope: 'notes.read' });
    const response = await postNote(agent, other, 'x');
    expect(response.statusCode).toBe(401);
    expect(response.headers['aauth-requirement']).toBe('requirement=person-token');
  });

  it('§Request-Context Binding step 5: wrong aud → 401 Signature-Error invalid_jwt', async () => {
    const agent = await agentWithPerson();
    const token = authToken(t, agent.key, { aud: 'https://other-resource.example' });
    const response = await send(t, { path: '/api/notes', key: agent.key, signatureKey: token });
    expect(response.statusCode).toBe(401);
    expect(response.headers['signature-error']).toBe('error=invalid_jwt');
    expect(response.json()).toMatchObject({
      error: 'invalid_jwt',
      type: 'urn:ietf:params:sig-error:invalid_jwt',
    });
  });

  it('§Request-Context Binding step 6: cnf not the signing key → 401 invalid_signature', async () => {
    const agent = await agentWithPerson();
    const thief = newAgent(t);
    const token = authToken(t, agent.key);
    const response = await send(t, { path: '/api/notes', key: thief.key, signatureKey: token });
    expect(response.statusCode).toBe(401);
    expect(response.headers['signature-error']).toBe('error=invalid_signature');
  });

  it('an auth token from a PS whose person token was never verified here → 401 invalid_jwt', async () => {
    const agent = newAgent(t);
    const token = authToken(t, agent.key, { issuer: t.ps2 });
    const response = await send(t, { path: '/api/notes', key: agent.key, signatureKey: token });
    expect(response.statusCode).toBe(401);
    expect(response.headers['signature-error']).toBe('error=invalid_jwt');
  });

  it('an auth token from an AS this resource has not configured → 401 invalid_jwt', async () => {
    const agent = await agentWithPerson();
    const token = authToken(t, agent.key, { issuer: t.as });
    const response = await send(t, { path: '/api/notes', key: agent.key, signatureKey: token });
    expect(response.statusCode).toBe(401);
    expect(response.headers['signature-error']).toBe('error=invalid_jwt');
  });

  it('a PS-issued auth token whose ps is not its iss → 401 invalid_jwt', async () => {
    const agent = await agentWithPerson();
    const token = authToken(t, agent.key, { ps: t.ps2.issuer });
    const response = await send(t, { path: '/api/notes', key: agent.key, signatureKey: token });
    expect(response.statusCode).toBe(401);
    expect(response.headers['signature-error']).toBe('error=invalid_jwt');
  });

  it('§Freshness and Replay: a byte-identical replay of a signed POST → 401 invalid_signature', async () => {
    const agent = await agentWithPerson('replayer');
    const token = authToken(t, agent.key, { sub: 'replayer' });
    const request = buildRequest(t, {
      method: 'POST',
      path: '/api/notes',
      key: agent.key,
      signatureKey: token,
      body: { text: 'once' },
      additionalComponents: BODY_COMPONENTS,
    });
    expect((await injectBuilt(t.app, request)).statusCode).toBe(201);
    const replay = await injectBuilt(t.app, request);
    expect(replay.statusCode).toBe(401);
    expect(replay.headers['signature-error']).toBe('error=invalid_signature');
    expect(await t.prisma.note.count({ where: { personSub: 'replayer' } })).toBe(1);
  });

  it('two distinct POSTs signed in the same second both succeed', async () => {
    const agent = await agentWithPerson('twice');
    const token = authToken(t, agent.key, { sub: 'twice' });
    const first = await postNote(agent, token, 'one');
    const second = await postNote(agent, token, 'two');
    expect([first.statusCode, second.statusCode]).toEqual([201, 201]);
  });

  it('§Resource Metadata additional_signature_components: a POST not covering content-digest → 401 invalid_input', async () => {
    const agent = await agentWithPerson();
    const token = authToken(t, agent.key);
    const request = buildRequest(t, {
      method: 'POST',
      path: '/api/notes',
      key: agent.key,
      signatureKey: token,
      body: { text: 'x' },
    });
    // Re-sign covering only the profile's base components: strip the body components from the input.
    const response = await injectBuilt(t.app, {
      ...request,
      headers: {
        ...request.headers,
        'signature-input': request.headers['signature-input']!.replace(
          ' "content-type" "content-digest"',
          '',
        ),
      },
    });
    expect(response.statusCode).toBe(401);
    expect(response.headers['signature-error']).toMatch(/^error=invalid_input/);
  });

  it('refuses a note without text → 400 invalid_request', async () => {
    const agent = await agentWithPerson();
    const response = await send(t, {
      method: 'POST',
      path: '/api/notes',
      key: agent.key,
      signatureKey: authToken(t, agent.key),
      body: { title: 'no text' },
      additionalComponents: BODY_COMPONENTS,
    });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ error: 'invalid_request' });
  });
});

describe('notes are isolated per person (iss, sub) and notebook', () => {
  it('the same sub from another PS is another person; another sub sees nothing; accounts split notebooks', async () => {
    const alice = await agentWithPerson('shared-sub');
    await postNote(alice, authToken(t, alice.key, { sub: 'shared-sub' }), 'alice at ps');
    await postNote(alice, authToken(t, alice.key, { sub: 'shared-sub', account: 'work' }), 'alice at work');

    // Same sub value, issued by a second PS (trusted once its person token is verified).
    const mallory = newAgent(t, { ps: t.ps2.issuer });
    await send(t, {
      path: '/api/me',
      key: mallory.key,
      signatureKey: personToken(t, mallory.key, { issuer: t.ps2, sub: 'shared-sub' }),
    });
    const theirs = await send(t, {
      path: '/api/notes',
      key: mallory.key,
      signatureKey: authToken(t, mallory.key, { issuer: t.ps2, sub: 'shared-sub' }),
    });
    expect(theirs.statusCode).toBe(200);
    expect(theirs.json().notes).toEqual([]);

    const bob = await agentWithPerson('bob');
    const bobs = await send(t, {
      path: '/api/notes',
      key: bob.key,
      signatureKey: authToken(t, bob.key, { sub: 'bob' }),
    });
    expect(bobs.json().notes).toEqual([]);

    const personal = await send(t, {
      path: '/api/notes',
      key: alice.key,
      signatureKey: authToken(t, alice.key, { sub: 'shared-sub' }),
    });
    expect(personal.json().notes.map((n: { text: string }) => n.text)).toEqual(['alice at ps']);
    const work = await send(t, {
      path: '/api/notes',
      key: alice.key,
      signatureKey: authToken(t, alice.key, { sub: 'shared-sub', account: 'work' }),
    });
    expect(work.json()).toMatchObject({ notebook: 'work', notes: [{ text: 'alice at work' }] });
  });
});
