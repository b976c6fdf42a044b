import { html, renderPage, type SafeHtml, sendPage } from '@aauth-ref/fastify';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AsPerson } from '../stores/prisma-federation.js';
import type { PageContext } from './context.js';

/** The page frame of the Access Server: navigation with sign-out when someone is signed in. */
export async function sendAsPage(
  context: PageContext,
  request: FastifyRequest,
  reply: FastifyReply,
  title: string,
  body: SafeHtml,
  status = 200,
): Promise<FastifyReply> {
  const person = await signedInPerson(context, request);
  const nav = person
    ? html`${person.isAdmin ? html`<a href="/admin">Administration</a> <a href="/admin/approvals">Approvals</a>` : ''}
<form method="post" action="/signout" class="inline">${await context.sessions.csrfField(request, reply)}<button type="submit" class="secondary">Sign out ${person.username}</button></form>`
    : html`<a href="/signin">Sign in</a>`;
  reply.header('cache-control', 'no-store');
  return sendPage(reply, renderPage({ title, body, siteName: context.siteName, nav }), status);
}

/** The signed-in person of this request, if any. */
export async function signedInPerson(
  context: PageContext,
  request: FastifyRequest,
): Promise<AsPerson | undefined> {
  const session = await context.sessions.current(request);
  return session ? context.persons.findById(session.personId) : undefined;
}

/** Sends a person to sign in and back to where they were (a same-site path only). */
export function redirectToSignIn(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return reply.redirect(`/signin?return_to=${encodeURIComponent(request.url)}`, 303);
}

/** A short page with a message and a way on. */
export function sendMessage(
  context: PageContext,
  request: FastifyRequest,
  reply: FastifyReply,
  title: string,
  text: string,
  status = 200,
): Promise<FastifyReply> {
  return sendAsPage(context, request, reply, title, html`<p>${text}</p>`, status);
}
