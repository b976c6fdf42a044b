import {
  codeEntryForm,
  createCodeAttemptGuard,
  createInteractionCodeEntry,
  formString,
  html,
  INTERACTION_NOTICES,
  type InteractionNotice,
  isAgentCallback,
  postForm,
  readInteractionQuery,
  redirectToCallback,
  submitButton,
} from '@aauth-ref/fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { CallbackError } from '../services/callback.js';
import type { DecidedStatus, PendingRecord } from '../services/pending-service.js';
import type { AppContext } from './context.js';
import { redirectToSignIn, sendRsPage } from './pages.js';

/**
 * The resource's own interaction page (§Resource-Managed Authorization, §User Interaction,
 * §Interaction Code Format, §Interaction Callback Errors): `/interaction?code=…[&callback=…]`, the same
 * whether an agent or a PS sends the person. Sign-in comes first; the first valid visit consumes the
 * code and binds the request to the signed-in account; only that account may decide. The decision
 * returns the browser to `callback` — with `error=…` unless approved — or shows a completion page.
 * A `callback` must be the `callback_endpoint` of the AP that issued the requesting agent's token
 * (as at the PS); any other is refused with `400` before anything redirects, an expired code included.
 */

const ERROR_OF: Readonly<Record<Exclude<DecidedStatus, 'approved'>, CallbackError>> = {
  denied: 'access_denied',
  abandoned: 'user_abandoned',
  expired: 'interaction_expired',
  failed: 'server_error',
};

export function registerInteractionRoutes(app: FastifyInstance, context: AppContext): void {
  const { sessions, pending, codeAttempts, clock } = context;
  const codes = createInteractionCodeEntry(
    pending,
    createCodeAttemptGuard(codeAttempts.perUser, codeAttempts.perAddress),
  );

  const notice = (request: FastifyRequest, reply: FastifyReply, shown: InteractionNotice) => {
    if (shown.retryAfter !== undefined) reply.header('retry-after', String(shown.retryAfter));
    return sendRsPage(
      context,
      request,
      reply,
      shown.title,
      html`<p>${shown.text}</p><p><a href="/interaction">Enter another code</a></p>`,
      shown.status,
    );
  };
  const message = (
    request: FastifyRequest,
    reply: FastifyReply,
    title: string,
    text: string,
    status: number,
  ) => notice(request, reply, { title, text, status });

  /** §User Interaction: the callback "is constructed from the agent's `callback_endpoint` metadata". */
  function isCallbackOf(record: PendingRecord, callback: string): Promise<boolean> {
    return isAgentCallback(context.keys, record.agentIss, callback);
  }

  async function sendConsent(request: FastifyRequest, reply: FastifyReply, record: PendingRecord) {
    const user = record.userId === null ? undefined : await context.users.find(record.userId);
    const form = postForm({
      action: '/interaction',
      csrf: await sessions.csrfField(request, reply),
      label: 'Your decision',
      body: html`<input type="hidden" name="request" value="${record.id}">
${submitButton('Allow', { name: 'decision', value: 'approve' })}
${submitButton('Deny', { name: 'decision', value: 'deny', kind: 'secondary' })}
${submitButton('Not now', { name: 'decision', value: 'cancel', kind: 'secondary' })}`,
    });
    const body = html`<p>An agent asks to use your <strong>${context.siteName}</strong> account${user ? html` <strong>${user.username}</strong>` : ''}.</p>
<dl>
<dt>Access</dt><dd>Read the notes in your personal notebook (${record.scope ?? ''})</dd>
<dt>Agent key</dt><dd><code>${record.ownerJkt}</code></dd>
</dl>
<p>Allow only if you started this with your own agent.</p>
${form}`;
    return sendRsPage(context, request, reply, 'Allow the agent?', body);
  }

  app.get('/interaction', async (request, reply) => {
    const { code, callback } = readInteractionQuery(request.query);
    if (code === undefined) return sendRsPage(context, request, reply, 'Enter your code', codeEntryForm());
    const session = await sessions.current(request);
    // Sign-in first: nothing about the code is looked up for an anonymous browser.
    if (!session) return redirectToSignIn(request, reply);
    const userId = session.personId;
    const found = await codes.resolve(code, userId, request.ip);
    if (found.kind === 'throttled') return notice(request, reply, INTERACTION_NOTICES.throttled);
    if (found.kind === 'invalid_code') return notice(request, reply, INTERACTION_NOTICES.invalidCode);
    if (found.kind === 'held') return sendConsent(request, reply, found.record);
    // Checked before any branch that redirects: an expired code must not become an open redirect.
    if (callback !== undefined && !(await isCallbackOf(found.record, callback)))
      return notice(request, reply, INTERACTION_NOTICES.callbackRefused);
    if (found.kind === 'expired') {
      if (callback !== undefined) return redirectToCallback(reply, callback, 'interaction_expired');
      return notice(request, reply, INTERACTION_NOTICES.expired);
    }
    const opened = await codes.claim(found.record, userId, callback ?? null);
    if (!opened) return notice(request, reply, INTERACTION_NOTICES.invalidCode);
    return sendConsent(request, reply, opened);
  });

  app.post('/interaction', { preHandler: sessions.verifyCsrf }, async (request, reply) => {
    const session = await sessions.current(request);
    if (!session) return reply.redirect('/signin?return_to=%2Finteraction', 303);
    const id = formString(request.body, 'request') ?? '';
    const choice = formString(request.body, 'decision');
    const record = await pending.findInteraction(id, session.personId);
    if (!record) return notice(request, reply, INTERACTION_NOTICES.closed);
    const wanted: DecidedStatus | undefined =
      clock.now() >= record.expiresAt.getTime()
        ? 'expired'
        : choice === 'approve'
          ? 'approved'
          : choice === 'deny'
            ? 'denied'
            : choice === 'cancel'
              ? 'abandoned'
              : undefined;
    if (wanted === undefined)
      return message(request, reply, 'Choose an answer', 'Choose Allow, Deny or Not now.', 400);

    let error: CallbackError | undefined = wanted === 'approved' ? undefined : ERROR_OF[wanted];
    let decided = false;
    try {
      decided = await pending.decide(record, session.personId, wanted);
    } catch (err) {
      // §Interaction Callback Errors: the agent must learn that this side failed, not wait for expiry.
      request.log.error({ event: 'interaction.failed', err }, 'interaction decision failed');
      const reachable = await context.database.ping().catch(() => false);
      error = reachable ? 'server_error' : 'temporarily_unavailable';
      if (reachable) await pending.decide(record, session.personId, 'failed').catch(() => false);
      decided = true;
    }
    if (!decided) return notice(request, reply, INTERACTION_NOTICES.closed);
    request.log.info({ event: 'interaction.decided', status: wanted, error }, 'interaction decided');
    if (record.callbackUrl !== null) return redirectToCallback(reply, record.callbackUrl, error);
    const text =
      error === undefined
        ? 'You allowed the agent. You can close this page.'
        : `The request ended (${error}). You can close this page.`;
    return message(request, reply, error === undefined ? 'Agent allowed' : 'Request ended', text, 200);
  });
}
