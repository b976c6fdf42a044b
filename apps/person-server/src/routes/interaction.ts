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
import { renderConsentBody, renderFederatedR3Body } from '../pages/consent-page.js';
import { renderResourceInterstitial, renderResourceRefused } from '../pages/resource-interstitial.js';
import { MAX_CLARIFICATION_ROUNDS, roundsOf } from '../services/clarification-service.js';
import { describeConsent, describeR3 } from '../services/consent-view.js';
import { isFederatedRecord } from '../services/federation-relay.js';
import { isGovernanceKind } from '../services/governance.js';
import type { PendingRecord } from '../services/pending-service.js';
import { allowsNothing } from '../services/r3-consent.js';
import { agentCallbackErrorFor, RESOURCE_CALLBACK_PATH } from '../services/resource-interaction.js';
import type { AppContext } from './context.js';
import { isMissionKind, sendMissionReview } from './missions-pages.js';
import { redirectToSignIn, sendPsPage } from './pages.js';
import { approveTokenRequest, readR3Choices } from './token-approval.js';

/**
 * The interaction page (§User Interaction, §Interaction Code Format, §Interaction Callback Errors):
 * `/interaction?code=…[&callback=…]`, or a code-entry form without a code. The code only correlates
 * (it is never a credential): the person signs in first, the first valid visit consumes the code
 * and binds the request to that person, and only that person's session may then decide.
 */
export function registerInteractionRoutes(app: FastifyInstance, context: AppContext): void {
  const { sessions, pending, enrollments, codeAttempts, clarifications, resourceInteractions } = context;
  const devMode = context.config.AAUTH_DEV;
  const codes = createInteractionCodeEntry(
    pending,
    createCodeAttemptGuard(codeAttempts.perPerson, codeAttempts.perAddress),
  );

  const notice = (request: FastifyRequest, reply: FastifyReply, shown: InteractionNotice) => {
    if (shown.retryAfter !== undefined) reply.header('retry-after', String(shown.retryAfter));
    return sendPsPage(
      context,
      request,
      reply.header('cache-control', 'no-store'),
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
  const closed = (request: FastifyRequest, reply: FastifyReply) =>
    notice(request, reply, INTERACTION_NOTICES.closed);

  /** Who the request is for: the agent `(iss, sub)`, or for an enrollment this server's own AP. */
  function agentIssuerOf(record: PendingRecord): string | null {
    return record.kind === 'enrollment' ? context.issuer : record.owner.agentIss;
  }

  /**
   * §User Interaction: the callback "is constructed from the agent's `callback_endpoint` metadata".
   * Accepted only when it is that endpoint (`isAgentCallback`: same origin and path, any query), so
   * the PS never becomes an open redirector.
   */
  function checkCallback(record: PendingRecord, callback: string): Promise<boolean> {
    return isAgentCallback(context.keys, agentIssuerOf(record), callback);
  }

  /** §Agent-Person Binding: "the PS MUST NOT allow a different person to claim the same agent". */
  async function isBoundToOther(record: PendingRecord, personId: string): Promise<boolean> {
    if (record.kind === 'enrollment') return enrollments.isBoundToOther(record, personId);
    const { agentIss, agentSub } = record.owner;
    if (!agentIss || !agentSub) return false;
    const bound = await context.bindings.findBoundPerson({ iss: agentIss, sub: agentSub });
    return bound !== undefined && bound !== personId;
  }

  /** R3 §R3 Processing: the document's `display` of a four-party request, then on to the AS. */
  async function sendFederatedR3(request: FastifyRequest, reply: FastifyReply, record: PendingRecord) {
    const view = await context.authTokens.federation?.interactionView(record, record.personId ?? '');
    if (view === undefined) {
      return message(request, reply, 'Not your request', 'This request is for someone else.', 403);
    }
    const body = renderFederatedR3Body({
      r3: describeR3(view.r3),
      accessServer: view.accessServer,
      resource: view.resource,
      ...(view.continueUrl === undefined ? {} : { continueUrl: view.continueUrl }),
      devMode,
    });
    return sendPsPage(context, request, reply, 'Review the request', body);
  }

  async function sendConsent(request: FastifyRequest, reply: FastifyReply, record: PendingRecord) {
    reply.header('cache-control', 'no-store');
    if (record.kind === 'enrollment') {
      const decisionButtons = html`<input type="hidden" name="request" value="${record.id}">
${submitButton('Approve', { name: 'decision', value: 'approve' })}
${submitButton('Deny', { name: 'decision', value: 'deny', kind: 'secondary' })}`;
      const form = postForm({
        action: '/interaction',
        csrf: await sessions.csrfField(request, reply),
        body: decisionButtons,
        label: 'Your decision',
      });
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
    if (isMissionKind(record)) return sendMissionReview(context, request, reply, record);
    if (isFederatedRecord(record)) return sendFederatedR3(request, reply, record);
    // Permission requests, relays and questions are decided on their own page (routes/governance-pages.ts).
    if (isGovernanceKind(record.kind)) return reply.redirect(`/governance/${record.id}`, 303);
    const isNew = !(await context.bindings.findBoundPerson({
      iss: record.owner.agentIss ?? '',
      sub: record.owner.agentSub ?? '',
    }));
    const view = await describeConsent(context.keys, record);
    if (resourceInteractions.pendingResourceInteraction(record) !== undefined) {
      // §Resource-Initiated Interaction: the resource's own flow comes before the PS consent.
      const resourceName = view.resource.name ?? view.resource.id;
      const redirect = await resourceInteractions.prepareRedirect(record, record.personId ?? '');
      if (redirect.kind === 'refused') {
        await resourceInteractions.failRefused(record, record.personId ?? '');
        request.log.warn({ event: 'resource_interaction.refused' }, 'interaction url refused');
        return sendPsPage(
          context,
          request,
          reply,
          'Request stopped',
          renderResourceRefused(resourceName),
          400,
        );
      }
      if (redirect.kind === 'not_open') {
        return closed(request, reply);
      }
      return sendPsPage(
        context,
        request,
        reply,
        'Additional permissions needed',
        renderResourceInterstitial({ resourceName, continueUrl: redirect.url }),
      );
    }
    const rounds = roundsOf(record);
    const body = renderConsentBody({
      view,
      requestId: record.id,
      step: record.clarificationStep,
      csrf: await sessions.csrfField(request, reply),
      devMode,
      isNewAgent: isNew,
      canAsk: clarifications.canAsk(record),
      roundsLeft: Math.max(0, MAX_CLARIFICATION_ROUNDS - rounds),
    });
    return sendPsPage(context, request, reply, 'Review the request', body);
  }

  /** A request the person held is gone: say whether the agent withdrew it (§Cancel Request). */
  async function sendClosed(request: FastifyRequest, reply: FastifyReply, id: string, personId: string) {
    const held = await pending.findHeldBy(id, personId);
    if (held?.status === 'cancelled') {
      return message(
        request,
        reply,
        'Request withdrawn',
        'The agent withdrew its request. There is nothing left to decide.',
        410,
      );
    }
    return closed(request, reply);
  }

  /** Back to the agent's callback, when it gave one. */
  function finish(reply: FastifyReply, record: PendingRecord, error?: string) {
    return record.callbackUrl ? redirectToCallback(reply, record.callbackUrl, error) : undefined;
  }

  app.get('/interaction', async (request, reply) => {
    const { code, callback } = readInteractionQuery(request.query);
    if (code === undefined) return sendPsPage(context, request, reply, 'Enter your code', codeEntryForm());
    const session = await sessions.current(request);
    // Sign-in first: nothing about the code is looked up for an anonymous browser.
    if (!session) return redirectToSignIn(request, reply);
    const personId = session.personId;
    const found = await codes.resolve(code, personId, request.ip);
    if (found.kind === 'throttled') return notice(request, reply, INTERACTION_NOTICES.throttled);
    if (found.kind === 'invalid_code') return notice(request, reply, INTERACTION_NOTICES.invalidCode);
    if (found.kind === 'expired') return notice(request, reply, INTERACTION_NOTICES.expired);
    if (found.kind === 'held') return sendConsent(request, reply, found.record);
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
      if (!(await checkCallback(record, callback)))
        return notice(request, reply, INTERACTION_NOTICES.callbackRefused);
      callbackUrl = callback;
    }
    const opened = await codes.claim(record, personId, callbackUrl);
    if (!opened) return notice(request, reply, INTERACTION_NOTICES.invalidCode);
    return sendConsent(request, reply, opened);
  });

  app.post('/interaction', { preHandler: sessions.verifyCsrf }, async (request, reply) => {
    const session = await sessions.current(request);
    if (!session) return reply.redirect('/signin?return_to=%2Finteraction', 303);
    const id = formString(request.body, 'request') ?? '';
    const decision = formString(request.body, 'decision');
    const record = await pending.findInteraction(id, session.personId);
    if (!record) return sendClosed(request, reply, id, session.personId);
    // Governance requests carry their own answers (a reason, an answer): decided on their own page.
    if (isGovernanceKind(record.kind)) return reply.redirect(`/governance/${record.id}`, 303);
    const r3Choices = decision === 'approve' ? readR3Choices(record, request.body) : undefined;
    if (r3Choices === 'invalid')
      return message(request, reply, 'Choose an answer', 'Choose an answer for each operation.', 400);
    // R3: allowing none of the operations is a denial.
    if (decision === 'deny' || (r3Choices !== undefined && allowsNothing(r3Choices))) {
      await pending.deny(record, session.personId);
      request.log.info({ event: 'interaction.denied', pendingKind: record.kind }, 'request denied');
      return (
        finish(reply, record, 'access_denied') ??
        message(request, reply, 'Request denied', 'You denied the request. You can close this page.', 200)
      );
    }
    if (decision !== 'approve' || isMissionKind(record)) {
      // Mission decisions carry the person's edits: they are made on the mission review form.
      return message(request, reply, 'Choose an answer', 'Choose Approve or Deny.', 400);
    }
    if (record.kind !== 'enrollment') {
      const step = formString(request.body, 'step');
      const changed = step !== undefined && step !== String(record.clarificationStep);
      if (changed || resourceInteractions.pendingResourceInteraction(record) !== undefined) {
        // The agent answered or changed its request after the page was shown: decide on what it is now.
        return sendPsPage(
          context,
          request,
          reply.header('cache-control', 'no-store'),
          'Review the request again',
          html`<p>The request changed after this page was shown. Review it again before deciding.</p>
<p><a href="/interaction/requests/${record.id}">Review the request</a></p>`,
          409,
        );
      }
      const approved = await approveTokenRequest(context, record, session.personId, r3Choices);
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
        return closed(request, reply);
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
      return closed(request, reply);
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

  /** The consent page of a request this person holds (after a question, an answer or the resource's flow). */
  app.get<{ Params: { id: string } }>('/interaction/requests/:id', async (request, reply) => {
    const session = await sessions.current(request);
    if (!session) return redirectToSignIn(request, reply);
    const record = await pending.findInteraction(request.params.id, session.personId);
    if (!record) return sendClosed(request, reply, request.params.id, session.personId);
    return sendConsent(request, reply, record);
  });

  /** §Clarification Chat: the person asks the agent a question from the consent page. */
  app.post('/interaction/clarify', { preHandler: sessions.verifyCsrf }, async (request, reply) => {
    const session = await sessions.current(request);
    if (!session) return reply.redirect('/signin?return_to=%2Finteraction', 303);
    const id = formString(request.body, 'request') ?? '';
    const record = await pending.findInteraction(id, session.personId);
    if (!record) return sendClosed(request, reply, id, session.personId);
    const outcome = await clarifications.ask(
      record,
      session.personId,
      formString(request.body, 'question') ?? '',
    );
    if (outcome === 'asked') {
      request.log.info({ event: 'clarification.asked', round: roundsOf(record) + 1 }, 'question asked');
      return reply.redirect(`/interaction/requests/${record.id}`, 303);
    }
    if (outcome === 'not_open') return sendClosed(request, reply, id, session.personId);
    const texts: Record<Exclude<typeof outcome, 'asked' | 'not_open'>, string> = {
      not_supported: 'This agent cannot answer questions.',
      limit_reached: 'You have asked as many questions as this request allows.',
      awaiting_answer: 'The agent has not answered your last question yet.',
      invalid_question: 'Write a question of at most 2000 characters.',
    };
    return sendPsPage(
      context,
      request,
      reply.header('cache-control', 'no-store'),
      'Question not sent',
      html`<p>${texts[outcome]}</p><p><a href="/interaction/requests/${record.id}">Back to the request</a></p>`,
      400,
    );
  });

  /**
   * §Resource-Initiated Interaction steps 4–5: the resource sends the browser back. An `error` ends
   * the request with the mapped polling error (§Interaction Callback Errors); otherwise the PS
   * consent follows.
   */
  app.get<{ Params: { id: string } }>(`${RESOURCE_CALLBACK_PATH}/:id`, async (request, reply) => {
    const session = await sessions.current(request);
    if (!session) return redirectToSignIn(request, reply);
    const query = request.query as Record<string, unknown>;
    const error = typeof query.error === 'string' ? query.error : undefined;
    const outcome = await resourceInteractions.handleCallback(request.params.id, session.personId, error);
    if (outcome.kind === 'unknown') {
      return message(
        request,
        reply,
        'Link not valid',
        'This link is not valid or has already been used.',
        410,
      );
    }
    if (outcome.kind === 'failed') {
      request.log.info(
        { event: 'resource_interaction.failed', status: outcome.status },
        'resource interaction failed',
      );
      return (
        finish(reply, outcome.record, agentCallbackErrorFor(outcome.status)) ??
        message(
          request,
          reply,
          'Request stopped',
          'The resource did not complete its part, so the request was stopped. You can close this page.',
          200,
        )
      );
    }
    return reply.redirect(`/interaction/requests/${outcome.record.id}`, 303);
  });
}
