import { afterEach, describe, expect, it } from 'vitest';
import { SERVER_ERROR_DETAIL } from '../src/index.js';
import { buildTestApp, type TestApp } from './helpers.js';

let t: TestApp;
afterEach(async () => {
  await t?.app.close();
});

describe('root error handler (§Error Response Format)', () => {
  it('a validation error is 400 invalid_request with a safe detail and no stack', async () => {
    t = await buildTestApp('person-server');
    const res = await t.app.inject({ method: 'POST', url: '/schema', payload: { other: 'x' } });
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    expect(res.json()).toEqual({
      status: 400,
      error: 'invalid_request',
      detail: "The request body is missing the member 'resource'.",
    });
    expect(res.body).not.toMatch(/stack|at .*\.ts|ajv/i);
  });

  it('a validation error names the location and keyword, never the offending value', async () => {
    t = await buildTestApp('person-server');
    const res = await t.app.inject({
      method: 'POST',
      url: '/schema',
      payload: { resource: { secret: 'v4lue' } },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({
      status: 400,
      error: 'invalid_request',
      detail: "The request body is invalid at '/resource' (type).",
    });
  });

  it('a thrown plain Error is 500 server_error with the fixed detail; the message stays in the log', async () => {
    t = await buildTestApp('resource');
    const res = await t.app.inject({ method: 'GET', url: '/boom' });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({ status: 500, error: 'server_error', detail: SERVER_ERROR_DETAIL });
    expect(res.body).not.toContain('hunter2');
    const logged = t.logs.map((line) => JSON.parse(line) as Record<string, unknown>);
    const failure = logged.find((entry) => entry.event === 'request.failed');
    expect(failure?.level).toBe(50);
    expect(JSON.stringify(failure)).toContain('ECONNREFUSED');
  });

  it('a 403 never carries Signature-Error or Accept-Signature-* (§Verification)', async () => {
    t = await buildTestApp('resource');
    const res = await t.app.inject({ method: 'GET', url: '/forbidden' });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toEqual({ status: 403, error: 'forbidden', detail: 'Not for you.' });
    expect(res.headers['signature-error']).toBeUndefined();
    expect(res.headers['accept-signature-scheme']).toBeUndefined();
    expect(res.headers['accept-signature-alg']).toBeUndefined();
  });

  it('an unknown route is 404 not_found in problem+json', async () => {
    t = await buildTestApp('resource');
    const res = await t.app.inject({ method: 'GET', url: '/nope' });
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    expect(res.json()).toMatchObject({ status: 404, error: 'not_found' });
  });
});

describe('body capture', () => {
  it('keeps the exact JSON bytes on request.rawBody', async () => {
    t = await buildTestApp('resource');
    const payload = '{ "b": 2,\n  "a": 1 }';
    const res = await t.app.inject({
      method: 'POST',
      url: '/echo',
      headers: { 'content-type': 'application/json' },
      payload,
    });
    expect(res.statusCode).toBe(200);
    expect(Buffer.from(res.json().raw, 'base64').toString()).toBe(payload);
  });

  it('keeps non-JSON bodies as a Buffer', async () => {
    t = await buildTestApp('resource');
    const res = await t.app.inject({
      method: 'POST',
      url: '/echo',
      headers: { 'content-type': 'application/octet-stream' },
      payload: Buffer.from([0, 1, 2, 255]),
    });
    expect(res.json()).toEqual({ raw: 'AAEC/w==', isBuffer: true });
  });

  it.each([
    ['{"__proto__":{"admin":true}}'],
    ['{"a":{"\\u005f_proto__":{"admin":true}}}'],
    ['{"constructor":{"prototype":{"admin":true}}}'],
  ])('refuses prototype pollution %s with 400 invalid_request', async (payload) => {
    t = await buildTestApp('resource');
    const res = await t.app.inject({
      method: 'POST',
      url: '/echo',
      headers: { 'content-type': 'application/json' },
      payload,
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({
      status: 400,
      error: 'invalid_request',
      detail: 'The JSON body contains a forbidden member name.',
    });
  });

  it('malformed JSON is 400 invalid_request without the parser message', async () => {
    t = await buildTestApp('resource');
    const res = await t.app.inject({
      method: 'POST',
      url: '/echo',
      headers: { 'content-type': 'application/json' },
      payload: '{"a":',
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({
      status: 400,
      error: 'invalid_request',
      detail: 'The request body is not valid JSON.',
    });
  });

  it('a body over the limit is 413 invalid_request in problem+json', async () => {
    t = await buildTestApp('resource');
    const res = await t.app.inject({
      method: 'POST',
      url: '/echo',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ big: 'x'.repeat(2048) }),
    });
    expect(res.statusCode).toBe(413);
    expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    expect(res.json()).toEqual({
      status: 413,
      error: 'invalid_request',
      detail: 'The request body is too large.',
    });
  });
});
