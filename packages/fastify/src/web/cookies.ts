/**
 * Cookie helpers. Browsers scope cookies by host, not port, so each server prefixes its cookie names
 * (`ps_session`, `as_session`, `rs_session`, likewise `_csrf`) and never reads another's
 * (ARCHITECTURE.md, *Configuration and modes*).
 */

export interface CookieNames {
  readonly session: string;
  readonly csrf: string;
}

/** `cookieNames('ps')` → `{ session: 'ps_session', csrf: 'ps_csrf' }`. */
export function cookieNames(prefix: string): CookieNames {
  if (!/^[a-z][a-z0-9]{0,15}$/.test(prefix)) {
    throw new TypeError(`cookie prefix must be short lowercase letters/digits: ${JSON.stringify(prefix)}`);
  }
  return Object.freeze({ session: `${prefix}_session`, csrf: `${prefix}_csrf` });
}

/** Parses a `Cookie` header; the first occurrence of a name wins (the most specific path, RFC 6265 §5.4). */
export function parseCookies(header: string | undefined): ReadonlyMap<string, string> {
  const cookies = new Map<string, string>();
  if (!header) return cookies;
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) continue;
    const name = pair.slice(0, eq).trim();
    let value = pair.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    if (name.length > 0 && !cookies.has(name)) cookies.set(name, value);
  }
  return cookies;
}

export interface CookieAttributes {
  /** `Secure` — always in strict mode (https); off in dev mode over `http://localhost`. */
  readonly secure: boolean;
  /** Lifetime in seconds; `0` deletes the cookie; absent makes a browser-session cookie. */
  readonly maxAge?: number;
  /** Default `Lax`: top-level redirects between the servers must keep the session. */
  readonly sameSite?: 'Lax' | 'Strict';
}

const TOKEN = /^[A-Za-z0-9_-]+$/;

/** A `Set-Cookie` value: `HttpOnly`, `Path=/`, no `Domain` (host-only), `SameSite=Lax` by default. */
export function serializeCookie(name: string, value: string, attributes: CookieAttributes): string {
  if (!TOKEN.test(name)) throw new TypeError('cookie name must be a token');
  if (value !== '' && !TOKEN.test(value)) throw new TypeError('cookie value must be base64url');
  const parts = [`${name}=${value}`, 'Path=/', 'HttpOnly', `SameSite=${attributes.sameSite ?? 'Lax'}`];
  if (attributes.secure) parts.push('Secure');
  if (attributes.maxAge !== undefined) {
    parts.push(`Max-Age=${Math.max(0, Math.floor(attributes.maxAge))}`);
    if (attributes.maxAge <= 0) parts.push('Expires=Thu, 01 Jan 1970 00:00:00 GMT');
  }
  return parts.join('; ');
}
