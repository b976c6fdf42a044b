import { registerSignInRoutes as registerAccountSignIn } from '@aauth-ref/fastify';
import type { FastifyInstance } from 'fastify';
import type { AppContext } from './context.js';
import { sendPsPage } from './pages.js';

/** `/signin` and `/signout`: the person's session at this PS (§PS Approval Endpoint Authentication). */
export function registerSignInRoutes(app: FastifyInstance, context: AppContext): void {
  registerAccountSignIn(app, {
    sessions: context.sessions,
    loginThrottle: context.loginThrottle,
    findAccount: (username) => context.persons.findByUsername(username),
    sendPage: (request, reply, title, body, status) =>
      sendPsPage(context, request, reply, title, body, status),
    defaultReturnTo: '/dashboard',
  });
}
