import type { FastifyInstance, FastifyReply } from 'fastify';

/**
 * Security headers on every HTML response. The pages use no script at all, and only the kit's
 * stylesheet; `form-action` lists `'self'` plus the origins the app's forms (and the redirects that
 * follow their submission — browsers apply `form-action` to those too) may reach.
 */

const extraFormActions = new WeakMap<FastifyReply, Set<string>>();

/** The Content-Security-Policy of a page whose forms may post or redirect to `formActions` as well. */
export function buildContentSecurityPolicy(formActions: Iterable<string> = []): string {
  const actions = ["'self'", ...new Set(formActions)].join(' ');
  return [
    "default-src 'self'",
    "script-src 'none'",
    "style-src 'self'",
    "img-src 'self'",
    "object-src 'none'",
    "frame-ancestors 'none'",
    `form-action ${actions}`,
    "base-uri 'none'",
  ].join('; ');
}

/** The origin of `url` (scheme, host, port), or a `TypeError` — never raw text inside the CSP. */
function originForCsp(url: string): string {
  const parsed = new URL(url);
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw new TypeError(`form-action origin must be http(s): ${parsed.protocol}`);
  }
  return parsed.origin;
}

/**
 * Lets this response's forms reach `url`'s origin (e.g. the redirect to an agent's callback after a
 * consent form is posted).
 */
export function allowFormAction(reply: FastifyReply, url: string): void {
  const origin = originForCsp(url);
  const set = extraFormActions.get(reply) ?? new Set<string>();
  set.add(origin);
  extraFormActions.set(reply, set);
}

export interface PageSecurityOptions {
  /** Origins every page's forms may reach besides `'self'`. */
  readonly formActions?: readonly string[];
}

/** Sets the HTML security headers on `reply`. Cache-Control defaults to `no-store`: pages carry CSRF tokens. */
export function applyPageSecurityHeaders(reply: FastifyReply, options: PageSecurityOptions = {}): void {
  const formActions = [
    ...(options.formActions ?? []).map(originForCsp),
    ...(extraFormActions.get(reply) ?? []),
  ];
  reply.header('content-security-policy', buildContentSecurityPolicy(formActions));
  reply.header('x-content-type-options', 'nosniff');
  // Not `no-referrer`: under it browsers send `Origin: null` with same-origin form posts, which the
  // CSRF origin check must refuse. `same-origin` still keeps URLs (interaction codes) from other sites.
  reply.header('referrer-policy', 'same-origin');
  reply.header('x-frame-options', 'DENY');
  reply.header('cross-origin-opener-policy', 'same-origin');
  if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
}

function isHtml(reply: FastifyReply): boolean {
  const type = reply.getHeader('content-type');
  return typeof type === 'string' && /^text\/html\b/i.test(type);
}

/** An `onSend` hook adding the security headers to every `text/html` response of `app`. */
export function registerPageSecurityHeaders(app: FastifyInstance, options: PageSecurityOptions = {}): void {
  // Checked once at start: a bad configured origin fails the server, not a request.
  for (const origin of options.formActions ?? []) originForCsp(origin);
  app.addHook('onSend', async (_request, reply, payload) => {
    if (isHtml(reply)) applyPageSecurityHeaders(reply, options);
    return payload;
  });
}
