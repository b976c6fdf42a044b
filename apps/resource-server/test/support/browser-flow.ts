import { hashPassword } from '@aauth-ref/fastify';
import type { LightMyRequestResponse } from 'fastify';
import { createPrismaUserStore } from '../../src/stores/prisma-users.js';
import type { TestApp } from './app-harness.js';

/** A person's browser at the resource's own pages: a cookie jar over `app.inject`. */
export interface TestBrowser {
  get(url: string): Promise<LightMyRequestResponse>;
  post(url: string, form: Record<string, string>): Promise<LightMyRequestResponse>;
  /** The CSRF token of the last page that had a form. */
  csrf(page: LightMyRequestResponse): string;
}

export function newBrowser(t: TestApp): TestBrowser {
  const jar = new Map<string, string>();
  const remember = (response: LightMyRequestResponse) => {
    const set = response.headers['set-cookie'];
    for (const line of Array.isArray(set) ? set : set ? [set] : []) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq);
      const value = pair!.slice(eq + 1);
      if (value === '') jar.delete(name);
      else jar.set(name, value);
    }
    return response;
  };
  const cookie = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  return {
    async get(url) {
      return remember(
        await t.app.inject({ method: 'GET', url, headers: { host: 'localhost:3003', cookie: cookie() } }),
      );
    },
    async post(url, form) {
      return remember(
        await t.app.inject({
          method: 'POST',
          url,
          headers: {
            host: 'localhost:3003',
            cookie: cookie(),
            origin: 'http://localhost:3003',
            'content-type': 'application/x-www-form-urlencoded',
          },
          payload: new URLSearchParams(form).toString(),
        }),
      );
    },
    csrf(page) {
      const match = /name="_csrf" value="([^"]+)"/.exec(page.body);
      if (!match) throw new Error('no CSRF field on the page');
      return match[1]!;
    },
  };
}

const createdUsers = new WeakMap<TestApp, Set<string>>();

/** Creates a resource account (once per app) and returns a browser signed in to it. */
export async function signedInBrowser(t: TestApp, username = 'carol'): Promise<TestBrowser> {
  const created = createdUsers.get(t) ?? new Set<string>();
  createdUsers.set(t, created);
  if (!created.has(username)) {
    await createPrismaUserStore(t.prisma).createIfAbsent({
      username,
      passwordHash: await hashPassword(`${username}-password`),
      displayName: username,
    });
    created.add(username);
  }
  const browser = newBrowser(t);
  const form = await browser.get('/signin');
  const signedIn = await browser.post('/signin', {
    _csrf: browser.csrf(form),
    username,
    password: `${username}-password`,
    return_to: '/interaction',
  });
  if (signedIn.statusCode !== 303) throw new Error(`sign-in failed: ${signedIn.statusCode}`);
  return browser;
}

/** `url` and `code` of `AAuth-Requirement: requirement=interaction; url="…"; code="…"`. */
export function interactionOf(response: LightMyRequestResponse): { url: string; code: string } {
  const header = String(response.headers['aauth-requirement'] ?? '');
  const match = /^requirement=interaction;url="([^"]+)";code="([^"]+)"$/.exec(header);
  if (!match) throw new Error(`not an interaction requirement: ${header}`);
  return { url: match[1]!, code: match[2]! };
}

/** The path of a `Location` header. */
export function pathOf(location: unknown): string {
  return new URL(String(location)).pathname;
}
