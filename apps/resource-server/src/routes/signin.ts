import {
  errorSummary,
  formString,
  html,
  isSafeRedirect,
  postForm,
  submitButton,
  textField,
  verifyPassword,
} from '@aauth-ref/fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from './context.js';
import { sendRsPage } from './pages.js';

/** `/signin` and `/signout`: the resource's own accounts (resource-managed access), cookies `rs_*`. */
export function registerSignInRoutes(app: FastifyInstance, context: AppContext): void {
  const { sessions, users, loginThrottle } = context;

  const returnTo = (value: unknown): string =>
    typeof value === 'string' && value.startsWith('/') && isSafeRedirect(value) ? value : '/interaction';

  async function sendForm(
    request: FastifyRequest,
    reply: FastifyReply,
    options: { target: string; username?: string; errors?: string[]; status?: number },
  ) {
    const body = html`<p>Sign in with your <strong>${context.siteName}</strong> account.</p>
${errorSummary(options.errors ?? [])}
${postForm({
  action: '/signin',
  csrf: await sessions.csrfField(request, reply),
  body: html`<input type="hidden" name="return_to" value="${options.target}">
${textField({ name: 'username', label: 'Username', autocomplete: 'username', required: true, value: options.username ?? '' })}
${textField({ name: 'password', label: 'Password', type: 'password', autocomplete: 'current-password', required: true })}
${submitButton('Sign in')}`,
})}`;
    return sendRsPage(context, request, reply, 'Sign in', body, options.status ?? 200);
  }

  app.get('/signin', async (request, reply) => {
    const query = request.query as Record<string, unknown>;
    return sendForm(request, reply, { target: returnTo(query.return_to) });
  });

  app.post('/signin', { preHandler: sessions.verifyCsrf }, async (request, reply) => {
    const username = (formString(request.body, 'username') ?? '').trim();
    const password = formString(request.body, 'password') ?? '';
    const target = returnTo(formString(request.body, 'return_to'));
    const attempt = { username, address: request.ip };
    const decision = await loginThrottle.check(attempt);
    if (!decision.allowed) {
      reply.header('retry-after', String(decision.retryAfterSeconds));
      return sendForm(request, reply, {
        target,
        username,
        errors: ['Too many sign-in attempts. Wait a few minutes and try again.'],
        status: 429,
      });
    }
    const user = username === '' ? undefined : await users.findByUsername(username);
    // verifyPassword does the same work for an unknown username, so timing does not reveal accounts.
    if (!(await verifyPassword(password, user?.passwordHash)) || !user) {
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
    await sessions.signIn(request, reply, user.id);
    request.log.info({ event: 'signin.succeeded' }, 'signed in');
    return reply.redirect(target, 303);
  });

  app.post('/signout', { preHandler: sessions.verifyCsrf }, async (request, reply) => {
    await sessions.signOut(request, reply);
    return reply.redirect('/signin', 303);
  });
}
