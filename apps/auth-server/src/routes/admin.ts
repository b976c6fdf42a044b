import { formString, html, postForm, type SafeHtml, submitButton } from '@aauth-ref/fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AsPerson } from '../stores/prisma-federation.js';
import type { PageContext } from './context.js';
import { redirectToSignIn, sendAsPage, sendMessage, signedInPerson } from './pages.js';

/**
 * Administration (issue 6 items 6 and 7): `/admin` lists issued auth tokens and PS bindings with
 * revoke buttons; `/admin/approvals` lists requests waiting for `requirement=approval` with
 * **Approve** and **Deny**. Administrators only; every form carries the CSRF token.
 */
export function registerAdminRoutes(app: FastifyInstance, context: PageContext): void {
  const { sessions, federation, store, revocations } = context;

  /** The signed-in administrator, or the reply already sent. */
  async function admin(request: FastifyRequest, reply: FastifyReply): Promise<AsPerson | FastifyReply> {
    const person = await signedInPerson(context, request);
    if (!person) return redirectToSignIn(request, reply);
    if (!person.isAdmin)
      return sendMessage(
        context,
        request,
        reply,
        'Not allowed',
        'Only administrators can use this page.',
        403,
      );
    return person;
  }
  const isPerson = (value: AsPerson | FastifyReply): value is AsPerson => 'isAdmin' in value;

  const button = async (
    request: FastifyRequest,
    reply: FastifyReply,
    action: string,
    label: string,
    extra?: SafeHtml,
  ) =>
    postForm({
      action,
      csrf: await sessions.csrfField(request, reply),
      body: html`${extra ?? ''}${submitButton(label, { kind: 'danger' })}`,
    });

  app.get('/admin', async (request, reply) => {
    const who = await admin(request, reply);
    if (!isPerson(who)) return who;
    const [tokens, bindings] = await Promise.all([store.listIssuedTokens(100), store.listBindings(100)]);
    const tokenRows = await Promise.all(
      tokens.map(
        async (t) =>
          html`<tr><td><code>${t.jti}</code></td><td>${t.aud}</td><td>${t.ps}</td><td>${t.sub}</td><td>${t.scope ?? ''}</td><td>${t.exp.toISOString()}</td><td>${
            t.revokedAt
              ? 'revoked'
              : await button(
                  request,
                  reply,
                  `/admin/tokens/${encodeURIComponent(t.jti)}/revoke`,
                  'Revoke token',
                )
          }</td></tr>`,
      ),
    );
    const bindingRows = await Promise.all(
      bindings.map(
        async (b) =>
          html`<tr><td>${b.username}</td><td>${b.ps}</td><td>${b.sub}</td><td>${b.createdAt.toISOString()}</td><td>${
            b.revokedAt
              ? 'revoked'
              : await button(request, reply, `/admin/bindings/${b.id}/revoke`, 'Revoke binding')
          }</td></tr>`,
      ),
    );
    const body = html`<h2>Issued auth tokens</h2>
<table><thead><tr><th scope="col">jti</th><th scope="col">Resource</th><th scope="col">Person Server</th><th scope="col">Subject</th><th scope="col">Scope</th><th scope="col">Expires</th><th scope="col">Action</th></tr></thead>
<tbody>${tokenRows}</tbody></table>
<h2>Person Server bindings</h2>
<table><thead><tr><th scope="col">Account</th><th scope="col">Person Server</th><th scope="col">Subject</th><th scope="col">Since</th><th scope="col">Action</th></tr></thead>
<tbody>${bindingRows}</tbody></table>`;
    return sendAsPage(context, request, reply, 'Administration', body);
  });

  app.post<{ Params: { jti: string } }>(
    '/admin/tokens/:jti/revoke',
    { preHandler: sessions.verifyCsrf },
    async (request, reply) => {
      const who = await admin(request, reply);
      if (!isPerson(who)) return who;
      const notice = await revocations.revokeIssued(request.params.jti);
      if (!notice)
        return sendMessage(context, request, reply, 'Unknown token', 'No such token was issued here.', 404);
      request.log.info(
        { event: 'token.revoked', by: 'admin', notice },
        'auth token revoked by an administrator',
      );
      const text =
        notice.kind === 'notified'
          ? 'The token is revoked and its resource was told.'
          : `The token is revoked here, but its resource could not be told (${notice.reason}); it stays usable there until it expires.`;
      return sendMessage(context, request, reply, 'Token revoked', text);
    },
  );

  app.post<{ Params: { id: string } }>(
    '/admin/bindings/:id/revoke',
    { preHandler: sessions.verifyCsrf },
    async (request, reply) => {
      const who = await admin(request, reply);
      if (!isPerson(who)) return who;
      const id = /^[0-9a-f-]{36}$/.test(request.params.id) ? request.params.id : '';
      const revoked = id !== '' && (await store.revokeBinding(id, new Date(context.clock.now())));
      if (!revoked)
        return sendMessage(context, request, reply, 'Unknown binding', 'No such active binding.', 404);
      request.log.info({ event: 'binding.revoked', by: 'admin' }, 'PS binding revoked');
      return sendMessage(
        context,
        request,
        reply,
        'Binding revoked',
        'The Person Server must be connected again before it is trusted for this person.',
      );
    },
  );

  app.get('/admin/approvals', async (request, reply) => {
    const who = await admin(request, reply);
    if (!isPerson(who)) return who;
    const waiting = await federation.listApprovals();
    const items = await Promise.all(
      waiting.map(async (r) => {
        const answers = Object.entries(r.answers ?? {});
        const claims = Object.entries(r.claims ?? {});
        return html`<li><dl>
<dt>Resource</dt><dd>${r.context.resource}</dd>
<dt>Person Server</dt><dd>${r.ps}</dd>
<dt>Subject</dt><dd>${r.context.sub}</dd>
<dt>Scope</dt><dd>${r.context.scope ?? 'none'}</dd>
<dt>Agent</dt><dd>${r.context.agent.sub}</dd>
${claims.map(([k, v]) => html`<dt>Claim ${k}</dt><dd>${JSON.stringify(v)}</dd>`)}
${answers.map(([q, a]) => html`<dt>Question: ${q}</dt><dd>${a}</dd>`)}
</dl>
${postForm({
  action: `/admin/approvals/${r.id}`,
  csrf: await sessions.csrfField(request, reply),
  label: `Decision for ${r.context.resource}`,
  body: html`${submitButton('Approve', { name: 'decision', value: 'approve' })}
${submitButton('Deny', { name: 'decision', value: 'deny', kind: 'secondary' })}`,
})}</li>`;
      }),
    );
    const body =
      waiting.length === 0 ? html`<p>No requests are waiting for approval.</p>` : html`<ul>${items}</ul>`;
    return sendAsPage(context, request, reply, 'Approvals', body);
  });

  app.post<{ Params: { id: string } }>(
    '/admin/approvals/:id',
    { preHandler: sessions.verifyCsrf },
    async (request, reply) => {
      const who = await admin(request, reply);
      if (!isPerson(who)) return who;
      const decision = formString(request.body, 'decision');
      if (decision !== 'approve' && decision !== 'deny')
        return sendMessage(context, request, reply, 'Choose an action', 'Approve or deny the request.', 400);
      const done = await federation.decideApproval(request.params.id, who.id, decision === 'approve');
      if (!done)
        return sendMessage(
          context,
          request,
          reply,
          'Nothing to decide',
          'This request is no longer waiting for approval.',
          404,
        );
      request.log.info({ event: 'approval.decided', decision, adminId: who.id }, 'approval decided');
      return sendMessage(
        context,
        request,
        reply,
        decision === 'approve' ? 'Approved' : 'Denied',
        'The decision is recorded.',
      );
    },
  );
}
