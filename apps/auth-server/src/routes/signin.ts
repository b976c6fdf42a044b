import { html, registerSignInRoutes as registerAccountSignIn } from '@aauth-ref/fastify';
import type { FastifyInstance } from 'fastify';
import type { PageContext } from './context.js';
import { sendAsPage } from './pages.js';

/** `/signin` and `/signout`: a person's session at this AS (its own accounts, not the PS's). */
export function registerSignInRoutes(app: FastifyInstance, context: PageContext): void {
  registerAccountSignIn(app, {
    sessions: context.sessions,
    loginThrottle: context.loginThrottle,
    findAccount: (username) => context.persons.findByUsername(username),
    sendPage: (request, reply, title, body, status) =>
      sendAsPage(context, request, reply, title, body, status),
    defaultReturnTo: '/',
    intro: html`<p>Sign in with your account at this access server.</p>`,
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
