import { DWK, originOf } from '@aauth-ref/core';
import {
  allowFormAction,
  formString,
  html,
  isSafeRedirect,
  postForm,
  submitButton,
  textField,
} from '@aauth-ref/fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { PendingRecord } from '../services/pending-service.js';
import type { AppContext } from './context.js';
import { redirectToSignIn, sendPsPage } from './pages.js';
import { approveTokenRequest } from './token-approval.js';

/**
 * The interaction page (§User Interaction, §Interaction Code Format, §Interaction Callback Errors):
 * `/interaction?code=…[&callback=…]`, or a code-entry form without a code. The code only correlates
 * (it is never a credential): the person signs in first, the first valid visit consumes the code
 * and binds the request to that person, and only that person's session may then decide.
 */
export function registerInteractionRoutes(app: FastifyInstance, context: AppContext): void {
  const { sessions, pending, enrollments, codeAttempts } = context;

  async function isThrottled(request: FastifyRequest, personId: string): Promise<boolean> {
    const decisions = await Promise.all([
      codeAttempts.perPerson.check(personId),
      codeAttempts.perAddress.check(request.ip),
    ]);
    return decisions.some((d) => !d.allowed);
  }

  async function recordFailedCode(request: FastifyRequest, personId: string): Promise<void> {
    await Promise.all([codeAttempts.perPerson.record(personId), codeAttempts.perAddress.record(request.ip)]);
  }

  const message = (
    request: FastifyRequest,
    reply: FastifyReply,
    title: string,
    text: string,
    status: number,
  ) =>
    sendPsPage(
      context,
      request,
      reply.header('cache-control', 'no-store'),
      title,
      html`<p>${text}</p><p><a href="/interaction">Enter another code</a></p>`,
      status,
    );

  const invalidCode = (request: FastifyRequest, reply: FastifyReply) =>
    message(
      request,
      reply,
      'Code not accepted',
      'This code is not valid or has already been used (invalid_code). Ask the agent for a new one.',
      410,
    );

  /** Who the request is for: the agent `(iss, sub)`, or for an enrollment this server's own AP. */
  function agentIssuerOf(record: PendingRecord): string | null {
    return record.kind === 'enrollment' ? context.issuer : record.owner.agentIss;
  }

  /**
   * §User Interaction: the callback "is constructed from the agent's `callback_endpoint` metadata".
   * Accepted only when it is that endpoint (same origin and path, any query), so the PS never
   * becomes an open redirector.
   */
  async function checkCallback(record: PendingRecord, callback: string): Promise<boolean> {
    const iss = agentIssuerOf(record);
    if (!iss) return false;
    let endpoint: unknown;
    try {
      endpoint = (await context.keys.metadata(iss, DWK.agent)).callback_endpoint;
    } catch {
      return false;
    }
    if (typeof endpoint !== 'string') return false;
    const origin = originOf(endpoint);
    if (!origin || !isSafeRedirect(callback, [origin])) return false;
    return new URL(callback).pathname === new URL(endpoint).pathname;
  }

  /** §Agent-Person Binding: "the PS MUST NOT allow a different person to claim the same agent". */
  async function isBoundToOther(record: PendingRecord, personId: string): Promise<boolean> {
    if (record.kind === 'enrollment') return enrollments.isBoundToOther(record, personId);
    const { agentIss, agentSub } = record.owner;
    if (!agentIss || !agentSub) return false;
    const bound = await context.bindings.findBoundPerson({ iss: agentIss, sub: agentSub });
    return bound !== undefined && bound !== personId;
  }

  async function sendConsent(request: FastifyRequest, reply: FastifyReply, record: PendingRecord) {
    reply.header('cache-control', 'no-store');
    const decisionButtons = html`<input type="hidden" name="request" value="${record.id}">
${submitButton('Approve', { name: 'decision', value: 'approve' })}
${submitButton('Deny', { name: 'decision', value: 'deny', kind: 'secondary' })}`;
    const form = postForm({
      action: '/interaction',
      csrf: await sessions.csrfField(request, reply),
      body: decisionButtons,
      label: 'Your decision',
    });
    if (record.kind === 'enrollment') {
      const details = enrollments.describe(record);
      const body = html`<p>An agent asks to be enrolled at <strong>${context.siteName}</strong> and connected to you. Approve only if you started this on your own device.</p>
<dl>
<dt>Agent Provider</dt><dd>${context.issuer}</dd>
<dt>Name</dt><dd>${details.name ?? 'not given'}</dd>
<dt>Platform</dt><dd>${details.platform ?? 'not given'}</dd>
<dt>Device</dt><dd>${details.device ?? 'not given'}</dd>
<dt>Person Server</dt><dd>${details.ps}</dd>
</dl>
${form}`;
      return sendPsPage(context, request, reply, 'Connect a new agent', body);
    }
    const { plan } = record.request as { plan: { resource: string; scope?: string } };
    const isNew = !(await context.bindings.findBoundPerson({
      iss: record.owner.agentIss ?? '',
      sub: record.owner.agentSub ?? '',
    }));
    const body = html`<p>${
      isNew
        ? 'A new agent asks to be connected to you and to act for you. Approve only if you started this.'
        : 'An agent connected to you asks to act for you.'
    }</p>
<dl><dt>Agent</dt><dd><code>${record.owner.agentSub ?? ''}</code></dd><dt>Agent Provider</dt><dd>${record.owner.agentIss ?? ''}</dd>
<dt>Resource</dt><dd>${plan.resource}</dd>
${record.kind === 'auth_token' ? html`<dt>Access requested</dt><dd>${plan.scope ?? 'no scope'}</dd>` : ''}</dl>
${form}`;
    return sendPsPage(context, request, reply, 'Review the request', body);
  }

  function finish(reply: FastifyReply, record: PendingRecord, error?: string) {
    if (record.callbackUrl) {
      const target = new URL(record.callbackUrl);
      if (error) target.searchParams.set('error', error);
      // Browsers apply form-action to the redirect that follows a form submission.
      allowFormAction(reply, target.origin);
      return reply.redirect(target.href, 303);
    }
    return undefined;
  }

  app.get('/interaction', async (request, reply) => {
    const query = request.query as Record<string, unknown>;
    const code = typeof query.code === 'string' ? query.code : undefined;
    const callback = typeof query.callback === 'string' ? query.callback : undefined;
    if (code === undefined || code === '') {
      const body = html`<form method="get" action="/interaction">
${textField({ name: 'code', label: 'Code', hint: 'The code your agent shows you, for example ABCD-1234.', autocomplete: 'off', required: true, maxlength: 64 })}
${submitButton('Continue')}
</form>`;
      return sendPsPage(context, request, reply, 'Enter your code', body);
    }
    const session = await sessions.current(request);
    // Sign-in first: nothing about the code is looked up for an anonymous browser.
    if (!session) return redirectToSignIn(request, reply);
    const personId = session.personId;
    if (await isThrottled(request, personId)) {
      reply.header('retry-after', '900');
      return message(
        request,
        reply,
        'Too many attempts',
        'Too many codes were not accepted (invalid_code). Wait a while before trying again.',
        429,
      );
    }
    const found = await pending.lookupCode(code);
    if (found.kind === 'unknown') {
      await recordFailedCode(request, personId);
      return invalidCode(request, reply);
    }
    if (found.kind === 'expired') {
      return message(
        request,
        reply,
        'Code expired',
        'This request has expired (expired). Ask the agent to start again.',
        408,
      );
    }
    if (found.kind === 'consumed') {
      // The person who opened it may reload the page; anyone else presenting a spent code is refused.
      const mine = await pending.findInteraction(found.record.id, personId);
      if (mine) return sendConsent(request, reply, mine);
      await recordFailedCode(request, personId);
      return invalidCode(request, reply);
    }
    const record = found.record;
    if (await isBoundToOther(record, personId)) {
      request.log.info(
        { event: 'binding.conflict', pendingKind: record.kind },
        'agent bound to another person',
      );
      return message(
        request,
        reply,
        'This agent belongs to someone else',
        'This agent is already connected to another person, so you cannot approve its requests.',
        403,
      );
    }
    let callbackUrl: string | null = null;
    if (callback !== undefined) {
      if (!(await checkCallback(record, callback))) {
        return message(
          request,
          reply,
          'Callback not allowed',
          "The return address given with this code is not the agent's.",
          400,
        );
      }
      callbackUrl = callback;
    }
    if (!(await pending.consumeCode(record, personId, callbackUrl))) return invalidCode(request, reply);
    const opened = await pending.findInteraction(record.id, personId);
    if (!opened) return invalidCode(request, reply);
    return sendConsent(request, reply, opened);
  });

  app.post('/interaction', { preHandler: sessions.verifyCsrf }, async (request, reply) => {
    const session = await sessions.current(request);
    if (!session) return reply.redirect('/signin?return_to=%2Finteraction', 303);
    const id = formString(request.body, 'request') ?? '';
    const decision = formString(request.body, 'decision');
    const record = await pending.findInteraction(id, session.personId);
    if (!record) {
      return message(
        request,
        reply,
        'Request closed',
        'This request is no longer waiting for a decision.',
        410,
      );
    }
    if (decision === 'deny') {
      await pending.deny(record, session.personId);
      request.log.info({ event: 'interaction.denied', pendingKind: record.kind }, 'request denied');
      return (
        finish(reply, record, 'access_denied') ??
        message(request, reply, 'Request denied', 'You denied the request. You can close this page.', 200)
      );
    }
    if (decision !== 'approve') {
      return message(request, reply, 'Choose an answer', 'Choose Approve or Deny.', 400);
    }
    if (record.kind !== 'enrollment') {
      const approved = await approveTokenRequest(context, record, session.personId);
      if (approved === 'bound_to_other') {
        return message(
          request,
          reply,
          'This agent belongs to someone else',
          'This agent is already connected to another person, so you cannot approve its requests.',
          403,
        );
      }
      if (approved === 'not_open') {
        return message(
          request,
          reply,
          'Request closed',
          'This request is no longer waiting for a decision.',
          410,
        );
      }
      request.log.info({ event: 'interaction.approved', pendingKind: record.kind }, 'request approved');
      return (
        finish(reply, record) ??
        message(request, reply, 'Request approved', 'You approved the request. You can close this page.', 200)
      );
    }
    const outcome = await enrollments.approve(record, session.personId);
    if (outcome.kind === 'bound_to_other') {
      return message(
        request,
        reply,
        'This agent belongs to someone else',
        'This agent is already connected to another person, so you cannot approve its requests.',
        403,
      );
    }
    if (outcome.kind === 'not_open') {
      return message(
        request,
        reply,
        'Request closed',
        'This request is no longer waiting for a decision.',
        410,
      );
    }
    request.log.info({ event: 'enrollment.approved', agent: outcome.agentSub }, 'agent enrolled');
    return (
      finish(reply, record) ??
      message(
        request,
        reply,
        'Agent connected',
        'The agent is connected to you. You can close this page.',
        200,
      )
    );
  });
}
