import { DEV, serializeAAuthRequirement } from '@aauth-ref/core';
import { makeKeyPair } from '@aauth-ref/testkit';
import { describe, expect, it } from 'vitest';
import { createPsAgent, createPsBrowser, pendingOf, type Reply, type Send } from './ps-browser.js';

const PS = 'http://localhost:3001';

describe('pendingOf', () => {
  it('reads the pending path, the interaction code and Retry-After of a 202', () => {
    const reply: Reply = {
      status: 202,
      headers: {
        location: `${PS}/pending/abc`,
        'retry-after': '3',
        'aauth-requirement': serializeAAuthRequirement(
          { requirement: 'interaction', url: `${PS}/interaction`, code: 'ABCD1234' } as never,
          DEV,
        ),
      },
      body: '',
    };
    expect(pendingOf(reply)).toEqual({ path: '/pending/abc', code: 'ABCD1234', retryAfterS: 3 });
  });

  it('refuses anything but a 202', () => {
    expect(() => pendingOf({ status: 200, headers: {}, body: '{}' })).toThrow('expected 202, got 200');
  });
});

describe('createPsBrowser', () => {
  it('signs in once, keeps the cookies and posts the decision with the page fields', async () => {
    const seen: { method: string; path: string; cookie: string | undefined; form: string }[] = [];
    const send: Send = async ({ method, path, headers, payload }) => {
      seen.push({ method, path, cookie: headers.cookie, form: payload?.toString('utf8') ?? '' });
      if (path === '/signin' && method === 'POST') {
        return { status: 303, headers: { 'set-cookie': ['ps_session=s1; Path=/; HttpOnly'] }, body: '' };
      }
      const page = path.startsWith('/interaction?')
        ? '<input name="_csrf" value="t2"><input name="request" value="r9"><input name="step" value="scope">'
        : '<input name="_csrf" value="t1">';
      return { status: 200, headers: {}, body: page };
    };
    const browser = createPsBrowser(PS, 'alice', 'pw');
    expect(await browser.approve(send, 'C1')).toBe(200);
    expect(await browser.approve(send, 'C2')).toBe(200);
    expect(seen.map((s) => `${s.method} ${s.path}`)).toEqual([
      'GET /signin',
      'POST /signin',
      'GET /interaction?code=C1',
      'POST /interaction',
      'GET /interaction?code=C2',
      'POST /interaction',
    ]);
    expect(seen[1]!.form).toBe('_csrf=t1&username=alice&password=pw&return_to=%2Fdashboard');
    expect(seen[3]!.cookie).toBe('ps_session=s1');
    expect(seen[3]!.form).toBe('_csrf=t2&request=r9&decision=approve&step=scope');
  });
});

describe('createPsAgent', () => {
  it('signs with the jwt scheme for the PS authority and sends the JSON body it signed', async () => {
    let sent: Parameters<Send>[0] | undefined;
    const send: Send = async (request) => {
      sent = request;
      return { status: 200, headers: {}, body: '' };
    };
    await createPsAgent(PS, { key: makeKeyPair(), jwt: 'a.b.c' })(send, 'POST', '/person', { resource: 'r' });
    expect(sent!.headers.host).toBe('localhost:3001');
    expect(sent!.headers['signature-key']).toBe('sig=jwt;jwt="a.b.c"');
    expect(sent!.headers['content-digest']).toMatch(/^sha-256=:/);
    expect(sent!.payload!.toString('utf8')).toBe('{"resource":"r"}');
  });
});
