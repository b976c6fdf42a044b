import { html, renderPage, type SafeHtml, sendPage } from '@aauth-ref/fastify';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from './context.js';

/** A page of the resource's own sign-in and consent flow (resource-managed access). */
export async function sendRsPage(
  context: AppContext,
  request: FastifyRequest,
  reply: FastifyReply,
  title: string,
  body: SafeHtml,
  status = 200,
): Promise<FastifyReply> {
  const session = await context.sessions.current(request);
  const nav = session
    ? html`<a href="/sessions">Connected agents</a> <form method="post" action="/signout" class="inline">${await context.sessions.csrfField(request, reply)}<button type="submit" class="secondary">Sign out</button></form>`
    : html`<a href="/signin">Sign in</a>`;
  reply.header('cache-control', 'no-store');
  return sendPage(reply, renderPage({ title, body, siteName: context.siteName, nav }), status);
}

/** Sends the person to sign in and back to where they were (a same-site path only). */
export function redirectToSignIn(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return reply.redirect(`/signin?return_to=${encodeURIComponent(request.url)}`, 303);
}
