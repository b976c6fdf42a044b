import { html, renderPage, type SafeHtml, sendPage } from '@aauth-ref/fastify';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from './context.js';

/** The page frame of the Person Server: navigation with sign-out when someone is signed in. */
export async function sendPsPage(
  context: AppContext,
  request: FastifyRequest,
  reply: FastifyReply,
  title: string,
  body: SafeHtml,
  status = 200,
): Promise<FastifyReply> {
  const session = await context.sessions.current(request);
  const nav = session
    ? html`<a href="/dashboard">Dashboard</a>
<a href="/missions">Missions</a>
<form method="post" action="/signout" class="inline">${await context.sessions.csrfField(request, reply)}<button type="submit" class="secondary">Sign out</button></form>`
    : html`<a href="/signin">Sign in</a>`;
  return sendPage(reply, renderPage({ title, body, siteName: context.siteName, nav }), status);
}

/** Sends a person to sign in and back to where they were (a same-site path only). */
export function redirectToSignIn(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return reply.redirect(`/signin?return_to=${encodeURIComponent(request.url)}`, 303);
}
