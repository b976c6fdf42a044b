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
import type { PageContext } from './context.js';
import { sendAsPage } from './pages.js';

/** `/signin` and `/signout`: a person's session at this AS (its own accounts, not the PS's). */
export function registerSignInRoutes(app: FastifyInstance, context: PageContext): void {
  const { sessions, persons, loginThrottle } = context;

  const returnTo = (value: unknown): string =>
    typeof value === 'string' && value.startsWith('/') && isSafeRedirect(value) ? value : '/';

  async function sendForm(
    request: FastifyRequest,
    reply: FastifyReply,
    options: { target: string; username?: string; errors?: string[]; status?: number },
  ) {
    const body = html`${errorSummary(options.errors ?? [])}
<p>Sign in with your account at this access server.</p>
${postForm({
  action: '/signin',
  csrf: await sessions.csrfField(request, reply),
  body: html`<input type="hidden" name="return_to" value="${options.target}">
${textField({ name: 'username', label: 'Username', autocomplete: 'username', required: true, value: options.username ?? '' })}
${textField({ name: 'password', label: 'Password', type: 'password', autocomplete: 'current-password', required: true })}
${submitButton('Sign in')}`,
})}`;
    return sendAsPage(context, request, reply, 'Sign in', body, options.status ?? 200);
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
      request.log.info({ event: 'signin.throttled' }, 'sign-in throttled');
      reply.header('retry-after', String(decision.retryAfterSeconds));
      return sendForm(request, reply, {
        target,
        username,
        errors: ['Too many sign-in attempts. Wait a few minutes and try again.'],
        status: 429,
      });
    }
    const person = username === '' ? undefined : await persons.findByUsername(username);
    // verifyPassword does the same work for an unknown username, so timing does not reveal accounts.
    if (!(await verifyPassword(password, person?.passwordHash)) || !person) {
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
    await sessions.signIn(request, reply, person.id);
    request.log.info({ event: 'signin.succeeded', personId: person.id }, 'signed in');
    return reply.redirect(target, 303);
  });

  app.post('/signout', { preHandler: sessions.verifyCsrf }, async (request, reply) => {
    await sessions.signOut(request, reply);
    return reply.redirect('/signin', 303);
  });

  app.get('/', async (request, reply) =>
    sendAsPage(
      context,
      request,
      reply,
      context.siteName,
      html`<p>This access server decides for the resources that chose it and issues their auth tokens to Person Servers. People sign in here to connect their Person Server or to complete a payment; administrators approve requests.</p>`,
    ),
  );
}
