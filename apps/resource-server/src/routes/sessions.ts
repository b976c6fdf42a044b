import { NotFound } from '@aauth-ref/core';
import { formString, html, postForm, submitButton } from '@aauth-ref/fastify';
import type { FastifyInstance } from 'fastify';
import type { AppContext } from './context.js';
import { redirectToSignIn, sendRsPage } from './pages.js';

/**
 * `/sessions`: the person's connected agents — the session-token grants they consented to on this
 * resource's interaction page (§Resource-Managed Authorization) — each with a Revoke button
 * (CSRF-protected POST `/sessions/revoke`). A revoked grant's session tokens are refused from the
 * next request on, on every instance (docs/spec-decisions.md, *Resource server: session-token
 * revocation*). Another person's grant, or an unknown one, is `404`.
 */
export function registerSessionsRoutes(app: FastifyInstance, context: AppContext): void {
  const { sessions, sessionTokens } = context;

  app.get('/sessions', async (request, reply) => {
    const session = await sessions.current(request);
    if (!session) return redirectToSignIn(request, reply);
    const grants = await sessionTokens.listGrants(session.personId);
    const csrf = await sessions.csrfField(request, reply);
    const rows = grants.map(
      (grant) => html`<li data-grant="${grant.grantId}">
<dl>
<dt>Access</dt><dd>${grant.scope}</dd>
<dt>Agent key</dt><dd><code>${grant.agentJkt}</code></dd>
<dt>Allowed</dt><dd><time datetime="${grant.createdAt.toISOString()}">${grant.createdAt.toISOString()}</time></dd>
<dt>Ends</dt><dd><time datetime="${grant.expiresAt.toISOString()}">${grant.expiresAt.toISOString()}</time></dd>
</dl>
${postForm({
  action: '/sessions/revoke',
  csrf,
  label: 'Revoke this agent',
  body: html`<input type="hidden" name="grant" value="${grant.grantId}">
${submitButton('Revoke', { kind: 'secondary' })}`,
})}
</li>`,
    );
    const body =
      grants.length === 0
        ? html`<p>No agent has a session with your account.</p>`
        : html`<p>These agents can use your account until the time shown or until you revoke them.</p>
<ul class="sessions">${rows}</ul>`;
    return sendRsPage(context, request, reply, 'Connected agents', body);
  });

  app.post('/sessions/revoke', { preHandler: sessions.verifyCsrf }, async (request, reply) => {
    const session = await sessions.current(request);
    if (!session) return reply.redirect('/signin?return_to=%2Fsessions', 303);
    const grantId = formString(request.body, 'grant') ?? '';
    try {
      await sessionTokens.revokeGrant({ grantId, userId: session.personId, revokedBy: context.issuer });
    } catch (err) {
      if (!(err instanceof NotFound)) throw err;
      return sendRsPage(
        context,
        request,
        reply,
        'No such session',
        html`<p>This session does not exist or is not yours.</p><p><a href="/sessions">Back to connected agents</a></p>`,
        404,
      );
    }
    request.log.info({ event: 'session_token.revoked', by: 'person' }, 'session revoked by the person');
    return reply.redirect('/sessions', 303);
  });
}
