import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { type Clock, systemClock } from '@aauth-ref/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { type CookieNames, cookieNames, parseCookies, serializeCookie } from './cookies.js';
import { formString } from './form-body.js';
import { html, type SafeHtml } from './html.js';
import { renderErrorPage, sendPage } from './layout.js';
import { hashSessionId, type Session, type SessionStore } from './session-store.js';

/**
 * Sessions and CSRF protection for the person-facing pages of one server.
 *
 * CSRF: every state-changing form carries a token (`csrfField`) that `verifyCsrf` checks in constant
 * time. The token is an HMAC keyed by a random secret held in this server's `<prefix>_csrf` cookie
 * (HttpOnly, never readable by script) over the hash of the current session id — so it is bound to
 * the session (it changes on sign-in, sign-out and rotation) and no server-side state is needed. A
 * sign-in form, before any session exists, is bound to the cookie alone. `verifyCsrf` also refuses a
 * request whose `Origin` is not this server's, or that a browser marks `Sec-Fetch-Site: cross-site`.
 * A refusal is a `403` HTML page (a person is looking at it, not a client), logged as
 * `event: csrf.rejected`.
 */

export const CSRF_FIELD = '_csrf';
export const DEFAULT_SESSION_TTL_SECONDS = 8 * 60 * 60;
const CSRF_KEY = /^[A-Za-z0-9_-]{43}$/;
const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export interface PageSessionOptions {
  readonly store: SessionStore;
  /** `ps`, `as` or `rs`: cookies are `<prefix>_session` and `<prefix>_csrf`. */
  readonly cookiePrefix: string;
  /** This server's ISSUER; a form POST must come from this origin. */
  readonly issuer: string;
  /** `Secure` cookies: true in strict mode, false in dev mode (http://localhost). */
  readonly secureCookies: boolean;
  readonly ttlSeconds?: number;
  /** Shown on the CSRF refusal page. */
  readonly siteName?: string;
  readonly clock?: Clock;
}

export interface PageSessions {
  readonly cookies: CookieNames;
  /** The signed-in session of this request, if any. */
  current(request: FastifyRequest): Promise<Session | undefined>;
  /** Signs `personId` in: any earlier session of this browser is destroyed and a new id issued. */
  signIn(request: FastifyRequest, reply: FastifyReply, personId: string): Promise<Session>;
  /** Issues a new id for the current session (after a privilege change); `undefined` without one. */
  rotate(request: FastifyRequest, reply: FastifyReply): Promise<Session | undefined>;
  signOut(request: FastifyRequest, reply: FastifyReply): Promise<void>;
  /** The CSRF token for forms on this response (sets the CSRF cookie when the browser has none). */
  csrfToken(request: FastifyRequest, reply: FastifyReply): Promise<string>;
  /** `<input type="hidden" name="_csrf" value="…">` for a form. */
  csrfField(request: FastifyRequest, reply: FastifyReply): Promise<SafeHtml>;
  /** A `preHandler` for every state-changing form route; sends the 403 page itself on refusal. */
  verifyCsrf(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined>;
}

interface RequestState {
  session?: Session | null;
  csrfKey?: string;
}

function deriveCsrfToken(csrfKey: string, session: Session | null | undefined): string {
  const binding = session ? hashSessionId(session.id) : '';
  return createHmac('sha256', Buffer.from(csrfKey, 'base64url'))
    .update(`aauth-csrf|${binding}`)
    .digest('base64url');
}

function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  // Length is not secret (every token is 43 characters); equal lengths are required by timingSafeEqual.
  return left.length === right.length && timingSafeEqual(left, right);
}

export function createPageSessions(options: PageSessionOptions): PageSessions {
  const cookies = cookieNames(options.cookiePrefix);
  const ttl = options.ttlSeconds ?? DEFAULT_SESSION_TTL_SECONDS;
  const clock = options.clock ?? systemClock;
  const origin = new URL(options.issuer).origin;
  const states = new WeakMap<FastifyRequest, RequestState>();

  const stateOf = (request: FastifyRequest): RequestState => {
    let state = states.get(request);
    if (!state) {
      state = {};
      states.set(request, state);
    }
    return state;
  };
  const requestCookies = (request: FastifyRequest) => parseCookies(request.headers.cookie);

  const setCookie = (reply: FastifyReply, name: string, value: string, maxAge: number) => {
    const existing = reply.getHeader('set-cookie');
    const list = Array.isArray(existing) ? existing : typeof existing === 'string' ? [existing] : [];
    const kept = list.filter((c) => !String(c).startsWith(`${name}=`));
    reply.header('set-cookie', [
      ...kept,
      serializeCookie(name, value, { secure: options.secureCookies, maxAge }),
    ]);
  };

  const newCsrfKey = (request: FastifyRequest, reply: FastifyReply): string => {
    const key = randomBytes(32).toString('base64url');
    stateOf(request).csrfKey = key;
    setCookie(reply, cookies.csrf, key, ttl);
    return key;
  };

  const current = async (request: FastifyRequest): Promise<Session | undefined> => {
    const state = stateOf(request);
    if (state.session === undefined) {
      const id = requestCookies(request).get(cookies.session);
      state.session = (id ? await options.store.get(id) : undefined) ?? null;
    }
    return state.session ?? undefined;
  };

  const csrfKeyOf = (request: FastifyRequest): string | undefined => {
    const state = stateOf(request);
    if (state.csrfKey) return state.csrfKey;
    const key = requestCookies(request).get(cookies.csrf);
    return key && CSRF_KEY.test(key) ? key : undefined;
  };

  const csrfToken = async (request: FastifyRequest, reply: FastifyReply): Promise<string> => {
    const key = csrfKeyOf(request) ?? newCsrfKey(request, reply);
    return deriveCsrfToken(key, await current(request));
  };

  const refuse = (request: FastifyRequest, reply: FastifyReply, reason: string) => {
    request.log.info({ event: 'csrf.rejected', reason }, 'form submission refused');
    return sendPage(
      reply,
      renderErrorPage({
        title: 'This form could not be accepted',
        message:
          'The form expired or did not come from this site. Go back, reload the page and submit it again.',
        ...(options.siteName ? { siteName: options.siteName } : {}),
      }),
      403,
    );
  };

  return {
    cookies,
    current,
    async signIn(request, reply, personId) {
      const previous = requestCookies(request).get(cookies.session);
      if (previous) await options.store.destroy(previous);
      const session = await options.store.create(personId, ttl);
      stateOf(request).session = session;
      setCookie(reply, cookies.session, session.id, ttl);
      // A CSRF cookie planted before sign-in (e.g. by a sibling host) is not carried into the session.
      newCsrfKey(request, reply);
      return session;
    },
    async rotate(request, reply) {
      const existing = await current(request);
      if (!existing) return undefined;
      const session = await options.store.rotate(existing.id);
      stateOf(request).session = session ?? null;
      if (session) {
        setCookie(reply, cookies.session, session.id, Math.ceil((session.expiresAt - clock.now()) / 1000));
      }
      return session;
    },
    async signOut(request, reply) {
      const id = requestCookies(request).get(cookies.session);
      if (id) await options.store.destroy(id);
      stateOf(request).session = null;
      setCookie(reply, cookies.session, '', 0);
    },
    csrfToken,
    async csrfField(request, reply) {
      return html`<input type="hidden" name="${CSRF_FIELD}" value="${await csrfToken(request, reply)}">`;
    },
    async verifyCsrf(request, reply) {
      if (!UNSAFE_METHODS.has(request.method)) return undefined;
      if (request.headers['sec-fetch-site'] === 'cross-site') return refuse(request, reply, 'cross-site');
      const requestOrigin = request.headers.origin;
      if (requestOrigin !== undefined && requestOrigin !== origin) return refuse(request, reply, 'origin');
      const key = csrfKeyOf(request);
      if (!key) return refuse(request, reply, 'no-cookie');
      const submitted = formString(request.body, CSRF_FIELD);
      if (!submitted) return refuse(request, reply, 'no-token');
      if (!safeEqual(submitted, deriveCsrfToken(key, await current(request)))) {
        return refuse(request, reply, 'mismatch');
      }
      return undefined;
    },
  };
}
