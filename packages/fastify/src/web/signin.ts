import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { formString } from './form-body.js';
import { html, type SafeHtml } from './html.js';
import { errorSummary, postForm, submitButton, textField } from './layout.js';
import type { PageSessions } from './page-sessions.js';
import { verifyPassword } from './password.js';
import type { LoginThrottle } from './rate-limit.js';
import { isSafeRedirect } from './redirect.js';

/**
 * `/signin` and `/signout` for a server's own accounts (the PS's persons, the AS's and the
 * resource's users): a labelled Username and Password form with CSRF, login throttling per
 * username and address, equal work for unknown usernames, and a new session id on every sign-in
 * (session fixation). Each server supplies its account lookup and its page layout.
 */
export interface SignInRoutesOptions {
  readonly sessions: PageSessions;
  readonly loginThrottle: LoginThrottle;
  /** The account for a username, with its scrypt hash; `undefined` when there is none. */
  findAccount(username: string): Promise<{ readonly id: string; readonly passwordHash: string } | undefined>;
  /** Renders `body` in the server's layout. */
  sendPage(
    request: FastifyRequest,
    reply: FastifyReply,
    title: string,
    body: SafeHtml,
    status: number,
  ): Promise<unknown> | unknown;
  /** Where a successful sign-in goes when no safe `return_to` was given. */
  readonly defaultReturnTo: string;
  /** Shown above the form. */
  readonly intro?: SafeHtml;
}

export function registerSignInRoutes(app: FastifyInstance, options: SignInRoutesOptions): void {
  const { sessions, loginThrottle } = options;

  const returnTo = (value: unknown): string =>
    typeof value === 'string' && value.startsWith('/') && isSafeRedirect(value)
      ? value
      : options.defaultReturnTo;

  async function sendForm(
    request: FastifyRequest,
    reply: FastifyReply,
    form: { target: string; username?: string; errors?: string[]; status?: number },
  ) {
    const body = html`${options.intro ?? ''}${errorSummary(form.errors ?? [])}
${postForm({
  action: '/signin',
  csrf: await sessions.csrfField(request, reply),
  body: html`<input type="hidden" name="return_to" value="${form.target}">
${textField({ name: 'username', label: 'Username', autocomplete: 'username', required: true, value: form.username ?? '' })}
${textField({ name: 'password', label: 'Password', type: 'password', autocomplete: 'current-password', required: true })}
${submitButton('Sign in')}`,
})}`;
    return options.sendPage(request, reply, 'Sign in', body, form.status ?? 200);
  }

  app.get('/signin', async (request, reply) => {
    const query = request.query as Record<string, unknown>;
    reply.header('cache-control', 'no-store');
    return sendForm(request, reply, { target: returnTo(query.return_to) });
  });

  app.post('/signin', { preHandler: sessions.verifyCsrf }, async (request, reply) => {
    const username = (formString(request.body, 'username') ?? '').trim();
    const password = formString(request.body, 'password') ?? '';
    const target = returnTo(formString(request.body, 'return_to'));
    const attempt = { username, address: request.ip };
    const decision = await loginThrottle.check(attempt);
    if (!decision.allowed) {
      request.log.info({ event: 'signin.throttled' }, 'sign-in throttled');
      reply.header('retry-after', String(decision.retryAfterSeconds));
      return sendForm(request, reply, {
        target,
        username,
        errors: ['Too many sign-in attempts. Wait a few minutes and try again.'],
        status: 429,
      });
    }
    const account = username === '' ? undefined : await options.findAccount(username);
    // verifyPassword does the same work for an unknown username, so timing does not reveal accounts.
    if (!(await verifyPassword(password, account?.passwordHash)) || !account) {
      await loginThrottle.recordFailure(attempt);
      request.log.info({ event: 'signin.failed' }, 'sign-in failed');
      return sendForm(request, reply, {
        target,
        username,
        errors: ['The username or password is not correct.'],
        status: 401,
      });
    }
    await loginThrottle.recordSuccess(attempt);
    // A new session id on every sign-in: an id planted before it is worthless after it.
    await sessions.signIn(request, reply, account.id);
    request.log.info({ event: 'signin.succeeded', accountId: account.id }, 'signed in');
    return reply.redirect(target, 303);
  });

  app.post('/signout', { preHandler: sessions.verifyCsrf }, async (request, reply) => {
    await sessions.signOut(request, reply);
    return reply.redirect('/signin', 303);
  });
}
