import { Writable } from 'node:stream';
import { buildSignedRequest, injectBuilt, makeAgentToken } from '@aauth-ref/testkit';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { createLoggerOptions } from '../src/index.js';
import { buildTestApp, type TestApp } from './helpers.js';

let t: TestApp;
afterEach(async () => {
  await t?.app.close();
});

describe('logging (CONVENTIONS.md Logs)', () => {
  it('never writes the token or the signature value; a rejection is one signature.rejected event', async () => {
    t = await buildTestApp('person-server');
    const agent = makeAgentToken({ issuer: t.ap, clock: t.clock });
    const built = buildSignedRequest({
      method: 'POST',
      path: '/token',
      body: { agent_token: agent.jwt },
      key: agent.key,
      signatureKey: agent.jwt,
      clock: t.clock,
      issuer: t.issuer,
    });
    expect((await injectBuilt(t.app, built)).statusCode).toBe(200);
    expect((await injectBuilt(t.app, built)).statusCode).toBe(401);
    const signatureValue = built.headers.signature!.slice('sig=:'.length, -1);
    const text = t.logs.join('');
    expect(text.length).toBeGreaterThan(0);
    expect(text).not.toContain(agent.jwt);
    expect(text).not.toContain(agent.jwt.split('.')[2]);
    expect(text).not.toContain(signatureValue);
    const events = t.logs.map((line) => JSON.parse(line) as Record<string, unknown>).filter((e) => e.event);
    expect(events).toEqual([
      expect.objectContaining({ event: 'signature.rejected', error: 'invalid_signature', level: 30 }),
    ]);
  });

  it('redacts credential headers and token body members when a handler logs them', async () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    });
    const app = Fastify({ logger: createLoggerOptions('info', { stream }) });
    app.post('/log', async (request) => {
      request.log.info({ headers: request.headers, body: request.body }, 'inbound');
      return {};
    });
    await app.inject({
      method: 'POST',
      url: '/log',
      headers: {
        signature: 'sig=:c2VjcmV0LXNpZw==:',
        'signature-key': 'sig=jwt;jwt="secret.jwt.value"',
        'signature-input': 'sig=("@method");created=1',
        authorization: 'AAuth secret-session',
        cookie: 'ps_session=secret-cookie',
      },
      payload: { resource_token: 'secret-rt', person_token: 'secret-pt', resource: 'https://r.example' },
    });
    await app.close();
    const text = lines.join('');
    for (const secret of [
      'c2VjcmV0LXNpZw',
      'secret.jwt.value',
      'secret-session',
      'secret-cookie',
      'secret-rt',
      'secret-pt',
    ]) {
      expect(text).not.toContain(secret);
    }
    expect(text).toContain('sig=(\\"@method\\");created=1');
    expect(text).toContain('https://r.example');
  });
});
