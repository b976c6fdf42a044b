import { DEV, type KeyPair, parseAAuthRequirement, signRequest, systemClock } from '@aauth-ref/core';

/**
 * The agent and the person of the Person Server benchmarks, over any transport: Fastify's `inject`
 * in the PS child (the consent flows walked once before listening), real HTTP in the parent (the
 * two-instance profile, where each step may go to another instance).
 */

export interface Reply {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | number | readonly string[] | undefined>>;
  readonly body: string;
}

export type Send = (request: {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly payload?: Buffer;
}) => Promise<Reply>;

/** One HTTP reply as a `Reply` (manual redirects: the PS's 303s are steps the caller looks at). */
export function sendOverHttp(port: number): Send {
  return async ({ method, path, headers, payload }) => {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, {
      method,
      headers,
      redirect: 'manual',
      ...(payload ? { body: payload } : {}),
    });
    const all: Record<string, string | string[]> = Object.fromEntries(response.headers);
    all['set-cookie'] = response.headers.getSetCookie();
    return { status: response.status, headers: all, body: await response.text() };
  };
}

/** The headers of one request signed now by the agent (`jwt` scheme), `host` included. */
export function signAgentRequest(
  ps: string,
  agent: { readonly key: KeyPair; readonly jwt: string },
  method: 'GET' | 'POST',
  path: string,
  payload?: Buffer,
): Record<string, string> {
  const base: Record<string, string> = payload ? { 'content-type': 'application/json' } : {};
  const headers = signRequest(
    { method, url: `${ps}${path}`, headers: base, ...(payload ? { body: payload } : {}) },
    { key: agent.key, signatureKey: { scheme: 'jwt', jwt: agent.jwt }, clock: systemClock },
  );
  return { host: new URL(ps).host, ...base, ...headers };
}

/** The agent: signed requests with its key and agent token, over any transport. */
export function createPsAgent(ps: string, agent: { readonly key: KeyPair; readonly jwt: string }) {
  return (send: Send, method: 'GET' | 'POST', path: string, body?: Record<string, unknown>) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body), 'utf8');
    const headers = signAgentRequest(ps, agent, method, path, payload);
    return send({ method, path, headers, ...(payload ? { payload } : {}) });
  };
}

/** What a 202 from the PS points to: the pending URL's path and the interaction code. */
export function pendingOf(reply: Reply): { path: string; code: string; retryAfterS: number } {
  if (reply.status !== 202) throw new Error(`expected 202, got ${reply.status} ${reply.body.slice(0, 300)}`);
  const { code } = parseAAuthRequirement(String(reply.headers['aauth-requirement']), DEV) as { code: string };
  return {
    path: new URL(String(reply.headers.location)).pathname,
    code,
    retryAfterS: Number(reply.headers['retry-after'] ?? 1),
  };
}

/** A person's browser at the PS: cookies and the CSRF field of the last page; signs in once. */
export function createPsBrowser(ps: string, username: string, password: string) {
  const authority = new URL(ps).host;
  const cookies = new Map<string, string>();
  let lastBody = '';
  const field = (name: string) => new RegExp(`name="${name}" value="([^"]+)"`).exec(lastBody)?.[1];

  async function browse(send: Send, method: 'GET' | 'POST', path: string, form?: Record<string, string>) {
    const reply = await send({
      method,
      path,
      headers: {
        host: authority,
        cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; '),
        ...(form ? { origin: ps, 'content-type': 'application/x-www-form-urlencoded' } : {}),
      },
      ...(form ? { payload: Buffer.from(new URLSearchParams(form).toString(), 'utf8') } : {}),
    });
    const set = reply.headers['set-cookie'];
    for (const line of typeof set === 'string'
      ? [set]
      : Array.isArray(set)
        ? (set as readonly string[])
        : []) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      if (pair!.slice(eq + 1) === '') cookies.delete(pair!.slice(0, eq));
      else cookies.set(pair!.slice(0, eq), pair!.slice(eq + 1));
    }
    lastBody = reply.body;
    return reply;
  }

  return {
    /** Signs in (first time only) and approves the interaction `code`; resolves the decision's status. */
    async approve(send: Send, code: string): Promise<number> {
      if (cookies.size === 0) {
        await browse(send, 'GET', '/signin');
        await browse(send, 'POST', '/signin', {
          _csrf: field('_csrf') ?? '',
          username,
          password,
          return_to: '/dashboard',
        });
      }
      await browse(send, 'GET', `/interaction?code=${code}`);
      const step = field('step');
      const decided = await browse(send, 'POST', '/interaction', {
        _csrf: field('_csrf') ?? '',
        request: field('request') ?? '',
        decision: 'approve',
        ...(step ? { step } : {}),
      });
      return decided.status;
    },
  };
}
