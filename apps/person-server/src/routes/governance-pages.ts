import { allowFormAction, formString, html } from '@aauth-ref/fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  DECIDE_PATH,
  renderPermissionReview,
  renderQuestionReview,
  renderRelayReview,
} from '../pages/governance-pages.js';
import { isGovernanceKind, isOpenFor } from '../services/governance.js';
import {
  type InteractionRelayService,
  MAX_ANSWER_LENGTH,
  type QuestionPlan,
  type RelayPlan,
} from '../services/interaction-relay-service.js';
import type { PendingRecord } from '../services/pending-service.js';
import {
  MAX_REASON_LENGTH,
  type PermissionPlan,
  type PermissionService,
} from '../services/permission-service.js';
import type { AppContext } from './context.js';
import { redirectToSignIn, sendPsPage } from './pages.js';

/**
 * `/governance/{id}`: the person's page for a permission request, a relayed interaction or a question
 * (reached from the dashboard, or through `/interaction` with a code), and `POST /governance/decide`
 * (CSRF-protected). Opening the page is the person engaging: the request becomes `interacting`.
 * Another person's request is answered exactly like one that does not exist.
 */
export function registerGovernancePageRoutes(
  app: FastifyInstance,
  context: AppContext,
  services: { permissions: PermissionService; relays: InteractionRelayService },
): void {
  const { sessions, pending } = context;
  const { permissions, relays } = services;
  const devMode = context.config.AAUTH_DEV;
  const now = () => new Date(context.clock.now());

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
      html`<p>${text}</p><p><a href="/dashboard">Back to the dashboard</a></p>`,
      status,
    );

  /** Back to the agent's callback when one was given with a code (§User Interaction). */
  function finish(reply: FastifyReply, record: PendingRecord, error?: string) {
    if (!record.callbackUrl) return undefined;
    const target = new URL(record.callbackUrl);
    if (error) target.searchParams.set('error', error);
    allowFormAction(reply, target.origin);
    return reply.redirect(target.href, 303);
  }

  async function sendReview(request: FastifyRequest, reply: FastifyReply, record: PendingRecord) {
    reply.header('cache-control', 'no-store');
    const common = { requestId: record.id, csrf: await sessions.csrfField(request, reply), devMode };
    if (record.kind === 'permission') {
      const { plan } = record.request as { plan: PermissionPlan };
      return sendPsPage(
        context,
        request,
        reply,
        'Permission requested',
        renderPermissionReview({ ...common, plan }),
      );
    }
    if (record.kind === 'question') {
      const { plan } = record.request as { plan: QuestionPlan };
      return sendPsPage(
        context,
        request,
        reply,
        'A question from your agent',
        renderQuestionReview({ ...common, plan }),
      );
    }
    const { plan } = record.request as { plan: RelayPlan };
    return sendPsPage(
      context,
      request,
      reply,
      'Continue on another site',
      renderRelayReview({ ...common, plan }),
    );
  }

  app.get<{ Params: { id: string } }>('/governance/:id', async (request, reply) => {
    const session = await sessions.current(request);
    if (!session) return redirectToSignIn(request, reply);
    const personId = session.personId;
    const held = await pending.findHeldBy(request.params.id, personId);
    if (!held || !isGovernanceKind(held.kind)) {
      return message(request, reply, 'Not found', 'No such request of yours.', 404);
    }
    if (!isOpenFor(held, personId, now())) {
      return message(request, reply, 'Request closed', 'This request is no longer waiting for you.', 410);
    }
    // Opening the request is engaging with it (§Pending Response: `interacting`).
    if (!(await relays.engage(held, personId))) {
      return message(request, reply, 'Request closed', 'This request is no longer waiting for you.', 410);
    }
    request.log.info({ event: 'governance.opened', pendingKind: held.kind }, 'governance request opened');
    const opened = await pending.findInteraction(held.id, personId);
    if (!opened) {
      return message(request, reply, 'Request closed', 'This request is no longer waiting for you.', 410);
    }
    return sendReview(request, reply, opened);
  });

  app.post(DECIDE_PATH, { preHandler: sessions.verifyCsrf }, async (request, reply) => {
    const session = await sessions.current(request);
    if (!session) return reply.redirect('/signin?return_to=%2Fdashboard', 303);
    const personId = session.personId;
    const id = formString(request.body, 'request') ?? '';
    const decision = formString(request.body, 'decision');
    const record = await pending.findInteraction(id, personId);
    if (!record || !isGovernanceKind(record.kind)) {
      return message(request, reply, 'Request closed', 'This request is no longer waiting for you.', 410);
    }
    const closed = () =>
      message(request, reply, 'Request closed', 'This request is no longer waiting for you.', 410);

    if (record.kind === 'permission') {
      if (decision !== 'approve' && decision !== 'deny') {
        return message(request, reply, 'Choose an answer', 'Choose Approve or Deny.', 400);
      }
      const reason = (formString(request.body, 'reason') ?? '').trim();
      if (reason.length > MAX_REASON_LENGTH) {
        return message(request, reply, 'Check the reason', 'The reason is too long.', 400);
      }
      const answer =
        decision === 'approve'
          ? ({ permission: 'granted' } as const)
          : ({ permission: 'denied', ...(reason === '' ? {} : { reason }) } as const);
      if (!(await permissions.decide(record, personId, answer))) return closed();
      request.log.info(
        { event: decision === 'approve' ? 'permission.granted' : 'permission.denied', decidedBy: 'person' },
        'permission decided',
      );
      return (
        finish(reply, record) ??
        message(
          request,
          reply,
          decision === 'approve' ? 'Permission granted' : 'Permission denied',
          decision === 'approve' ? 'The agent may go ahead.' : 'The agent was told not to go ahead.',
          200,
        )
      );
    }

    if (decision === 'decline') {
      if (!(await relays.decline(record, personId))) return closed();
      request.log.info({ event: 'interaction.declined', pendingKind: record.kind }, 'interaction declined');
      return (
        finish(reply, record, 'access_denied') ??
        message(request, reply, 'Declined', 'The agent was told you declined.', 200)
      );
    }

    if (record.kind === 'question') {
      const answer = (formString(request.body, 'answer') ?? '').trim();
      if (decision !== 'answer' || answer === '' || answer.length > MAX_ANSWER_LENGTH) {
        return message(
          request,
          reply,
          'Write an answer',
          `Write an answer of at most ${MAX_ANSWER_LENGTH} characters, or decline.`,
          400,
        );
      }
      if (!(await relays.answer(record, personId, answer))) return closed();
      request.log.info({ event: 'interaction.answered' }, 'question answered');
      return (
        finish(reply, record) ??
        message(request, reply, 'Answer sent', 'The agent receives your answer.', 200)
      );
    }

    if (decision !== 'done') {
      return message(request, reply, 'Choose an answer', 'Choose I have finished there, or Decline.', 400);
    }
    if (!(await relays.markDone(record, personId))) return closed();
    request.log.info({ event: 'interaction.relay_done' }, 'relayed interaction done');
    return (
      finish(reply, record) ?? message(request, reply, 'Thank you', 'The agent was told you finished.', 200)
    );
  });
}
