import { html, registerSignInRoutes as registerAccountSignIn } from '@aauth-ref/fastify';
import type { FastifyInstance } from 'fastify';
import type { AppContext } from './context.js';
import { sendRsPage } from './pages.js';

/** `/signin` and `/signout`: the resource's own accounts (resource-managed access), cookies `rs_*`. */
export function registerSignInRoutes(app: FastifyInstance, context: AppContext): void {
  registerAccountSignIn(app, {
    sessions: context.sessions,
    loginThrottle: context.loginThrottle,
    findAccount: (username) => context.users.findByUsername(username),
    sendPage: (request, reply, title, body, status) =>
      sendRsPage(context, request, reply, title, body, status),
    defaultReturnTo: '/interaction',
    intro: html`<p>Sign in with your <strong>${context.siteName}</strong> account.</p>`,
  });
}
