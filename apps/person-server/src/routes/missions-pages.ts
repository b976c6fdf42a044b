import { allowFormAction, formString, formStrings, html } from '@aauth-ref/fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  renderCompletionReview,
  renderMissionsList,
  renderProposalReview,
  renderUpdateReview,
} from '../pages/mission-pages.js';
import { MAX_CLARIFICATION_ROUNDS, roundsOf } from '../services/clarification-service.js';
import { storedTokenRequestOf } from '../services/consent-view.js';
import type {
  CompletionPlan,
  MissionDecision,
  MissionProposalPlan,
  UpdatePlan,
} from '../services/mission-service.js';
import type { PendingRecord } from '../services/pending-service.js';
import { bindAgentInTx } from '../stores/prisma-bindings.js';
import { approvePendingInTx } from '../stores/prisma-pending-store.js';
import type { AppContext } from './context.js';
import { redirectToSignIn, sendPsPage } from './pages.js';

/**
 * The person's side of missions: the review pages reached through the interaction flow (a proposal,
 * a completion), their decisions (`POST /interaction/mission`, CSRF-protected), and the missions list
 * at `/missions` (`mission_control_endpoint`) with Revoke. Every lookup is scoped to the signed-in
 * person: someone else's mission or request is answered like one that does not exist.
 */

export function isMissionKind(record: PendingRecord): boolean {
  return (
    record.kind === 'mission' || record.kind === 'mission_completion' || record.kind === 'mission_update'
  );
}

function chatOptions(
  context: AppContext,
  record: PendingRecord,
  csrf: Awaited<ReturnType<AppContext['sessions']['csrfField']>>,
) {
  const stored = storedTokenRequestOf(record);
  return {
    requestId: record.id,
    csrf,
    devMode: context.config.AAUTH_DEV,
    clarificationAllowed: stored.capabilities?.includes('clarification') === true,
    clarification: record.clarification ?? { turns: [] },
    canAsk: context.clarifications.canAsk(record),
    roundsLeft: Math.max(0, MAX_CLARIFICATION_ROUNDS - roundsOf(record)),
  };
}

/** The review page of a pending proposal or completion the person holds. */
export async function sendMissionReview(
  context: AppContext,
  request: FastifyRequest,
  reply: FastifyReply,
  record: PendingRecord,
) {
  reply.header('cache-control', 'no-store');
  const csrf = await context.sessions.csrfField(request, reply);
  const chat = chatOptions(context, record, csrf);
  if (record.kind === 'mission') {
    const plan = (record.request as { plan: MissionProposalPlan }).plan;
    const body = renderProposalReview({ ...chat, plan, step: record.clarificationStep });
    return sendPsPage(context, request, reply, 'Review the proposed mission', body);
  }
  const plan = (record.request as { plan: CompletionPlan | UpdatePlan }).plan;
  const missions = await context.missionStore.listForPerson(record.personId ?? '');
  const mission = missions.find((m) => m.s256 === plan.missionS256);
  if (record.kind === 'mission_update') {
    const body = renderUpdateReview({
      ...chat,
      plan: plan as UpdatePlan,
      mission,
      step: record.clarificationStep,
    });
    return sendPsPage(context, request, reply, 'Review the mission update', body);
  }
  const body = renderCompletionReview({
    ...chat,
    plan: plan as CompletionPlan,
    mission,
    step: record.clarificationStep,
  });
  return sendPsPage(context, request, reply, 'Review the completed mission', body);
}

/** `datetime-local` (read as UTC) or a full ISO 8601 timestamp; `null` when malformed. */
function parseExpiry(value: string | undefined): Date | undefined | null {
  if (value === undefined || value.trim() === '') return undefined;
  const text = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/.test(value) ? `${value}Z` : value;
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? null : date;
}

export function registerMissionPageRoutes(app: FastifyInstance, context: AppContext): void {
  const { sessions, pending, missions, missionStore } = context;

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
      html`<p>${text}</p><p><a href="/missions">Your missions</a></p>`,
      status,
    );

  /** Back to the agent's callback when one was given with the code (§User Interaction). */
  function finish(reply: FastifyReply, record: PendingRecord, error?: string) {
    if (!record.callbackUrl) return undefined;
    const target = new URL(record.callbackUrl);
    if (error) target.searchParams.set('error', error);
    allowFormAction(reply, target.origin);
    return reply.redirect(target.href, 303);
  }

  app.post('/interaction/mission', { preHandler: sessions.verifyCsrf }, async (request, reply) => {
    const session = await sessions.current(request);
    if (!session) return reply.redirect('/signin?return_to=%2Fmissions', 303);
    const personId = session.personId;
    const id = formString(request.body, 'request') ?? '';
    const decision = formString(request.body, 'decision');
    const record = await pending.findInteraction(id, personId);
    if (!record || !isMissionKind(record)) {
      return message(
        request,
        reply,
        'Request closed',
        'This request is no longer waiting for a decision.',
        410,
      );
    }
    const step = formString(request.body, 'step');
    if (step !== undefined && step !== String(record.clarificationStep)) {
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

    const chat = record.clarification?.turns ?? [];
    if (record.kind === 'mission_update') {
      const plan = (record.request as { plan: UpdatePlan }).plan;
      if (decision === 'decline') {
        await missions.declineUpdate(plan, personId, chat);
        await pending.deny(record, personId);
        request.log.info({ event: 'mission.update_declined' }, 'mission update declined');
        return message(
          request,
          reply,
          'Update declined',
          'You declined the update. The mission stays as it was.',
          200,
        );
      }
      if (decision !== 'accept')
        return message(request, reply, 'Choose an answer', 'Choose Accept or Decline.', 400);
      const accepted = await missions.acceptUpdate(plan, personId, chat);
      if (!accepted) {
        await pending.fail(record, personId, 'denied');
        return message(request, reply, 'Mission already ended', 'This mission had already ended.', 410);
      }
      await context.prisma.$transaction((tx) => approvePendingInTx(tx, record.id, personId, accepted));
      request.log.info({ event: 'mission.updated' }, 'mission update accepted by the person');
      return message(request, reply, 'Update accepted', 'You accepted the update to the mission.', 200);
    }

    if (record.kind === 'mission_completion') {
      const plan = (record.request as { plan: CompletionPlan }).plan;
      if (decision === 'decline') {
        // §Mission Completion: not accepted, "leaving the mission active"; the poll answers `denied`.
        if (!(await missions.declineCompletion(plan, personId, chat))) {
          await pending.fail(record, personId, 'denied');
          return message(request, reply, 'Mission already ended', 'This mission had already ended.', 410);
        }
        await pending.deny(record, personId);
        request.log.info({ event: 'mission.completion_declined' }, 'mission completion declined');
        return (
          finish(reply, record, 'access_denied') ??
          message(
            request,
            reply,
            'Mission continues',
            'You did not accept the completion; the mission stays active.',
            200,
          )
        );
      }
      if (decision !== 'accept')
        return message(request, reply, 'Choose an answer', 'Choose Accept or Keep it open.', 400);
      if (!(await missions.acceptCompletion(plan, personId, chat))) {
        // The mission ended meanwhile (revoked, expired): nothing is left to complete.
        await pending.fail(record, personId, 'denied');
        return message(request, reply, 'Mission already ended', 'This mission had already ended.', 410);
      }
      const result = { mission_status: 'terminated', termination_reason: 'completed' };
      await context.prisma.$transaction((tx) => approvePendingInTx(tx, record.id, personId, result));
      request.log.info({ event: 'mission.completed' }, 'mission completed');
      return (
        finish(reply, record) ??
        message(
          request,
          reply,
          'Mission completed',
          'You accepted the completion; the mission has ended.',
          200,
        )
      );
    }

    if (decision === 'deny') {
      await pending.deny(record, personId);
      request.log.info({ event: 'mission.denied' }, 'mission denied');
      return (
        finish(reply, record, 'access_denied') ??
        message(request, reply, 'Mission denied', 'You denied the mission. You can close this page.', 200)
      );
    }
    if (decision !== 'approve')
      return message(request, reply, 'Choose an answer', 'Choose Approve or Deny.', 400);
    const plan = (record.request as { plan: MissionProposalPlan }).plan;
    const expiresAt = parseExpiry(formString(request.body, 'expires_at'));
    // Browsers submit a textarea's line breaks as CRLF (HTML form submission); the agent wrote LF.
    const description = (formString(request.body, 'description') ?? '').replace(/\r\n?/g, '\n');
    if (expiresAt === null || (expiresAt !== undefined && expiresAt.getTime() <= context.clock.now())) {
      return message(
        request,
        reply,
        'Check the end time',
        'The end time must be a date and time in the future.',
        400,
      );
    }
    if (description.trim() === '') {
      return message(request, reply, 'Check the description', 'The mission needs a description.', 400);
    }
    if (plan.personId !== undefined && plan.personId !== personId) {
      return message(
        request,
        reply,
        'This agent belongs to someone else',
        'This agent is already connected to another person.',
        403,
      );
    }
    // §Agent-Person Binding: approving an agent's first request connects it to this person.
    const bound = await context.prisma.$transaction((tx) => bindAgentInTx(tx, plan.agent, personId, {}));
    if (bound === 'bound_to_other') {
      return message(
        request,
        reply,
        'This agent belongs to someone else',
        'This agent is already connected to another person.',
        403,
      );
    }
    const missionDecision: MissionDecision = {
      description,
      toolNames: formStrings(request.body, 'tool'),
      resources: formStrings(request.body, 'resource'),
      ...(expiresAt === undefined ? {} : { expiresAt }),
    };
    const approval = await missions.approve(plan, personId, missionDecision);
    const approved = await context.prisma.$transaction((tx) =>
      approvePendingInTx(tx, record.id, personId, approval),
    );
    if (!approved) {
      // The agent withdrew meanwhile: the mission it will never learn of must not stay usable.
      await missionStore.terminate(approval.s256, 'administrative', new Date(context.clock.now()), personId);
      return message(request, reply, 'Request closed', 'The agent withdrew its proposal.', 410);
    }
    request.log.info({ event: 'mission.approved' }, 'mission approved');
    return (
      finish(reply, record) ??
      message(request, reply, 'Mission approved', 'You approved the mission. You can close this page.', 200)
    );
  });

  app.get('/missions', async (request, reply) => {
    const session = await sessions.current(request);
    if (!session) return redirectToSignIn(request, reply);
    const now = new Date(context.clock.now());
    const [list, completions] = await Promise.all([
      missionStore.listForPerson(session.personId),
      context.prisma.pendingRequest.findMany({
        where: {
          personId: session.personId,
          kind: { in: ['mission_completion', 'mission_update'] },
          status: 'interacting',
          terminalAt: null,
          expiresAt: { gt: now },
        },
        select: { id: true, kind: true, request: true },
        orderBy: { createdAt: 'asc' },
        take: 50,
      }),
    ]);
    const csrf = await sessions.csrfField(request, reply);
    reply.header('cache-control', 'no-store');
    const body = renderMissionsList({
      missions: list,
      completions: completions.map((row) => ({
        id: row.id,
        missionS256: (row.request as unknown as { plan: CompletionPlan }).plan.missionS256,
        what: row.kind === 'mission_update' ? ('update' as const) : ('completion' as const),
      })),
      csrf,
      devMode: context.config.AAUTH_DEV,
    });
    return sendPsPage(context, request, reply, 'Missions', body);
  });

  /** The blob exactly as approved (§Mission Identifier: "MUST serve them wherever it later exposes the mission"). */
  app.get<{ Params: { s256: string } }>('/missions/:s256/blob', async (request, reply) => {
    const session = await sessions.current(request);
    if (!session) return redirectToSignIn(request, reply);
    const mission = await missionStore.findFull(request.params.s256, { personId: session.personId });
    if (!mission) return message(request, reply, 'Not found', 'No such mission of yours.', 404);
    return reply
      .code(200)
      .header('cache-control', 'no-store')
      .header('content-disposition', `attachment; filename="mission-${mission.s256}.json"`)
      .type('application/json')
      .send(Buffer.from(mission.blob));
  });

  app.post('/missions/revoke', { preHandler: sessions.verifyCsrf }, async (request, reply) => {
    const session = await sessions.current(request);
    if (!session) return redirectToSignIn(request, reply);
    const s256 = formString(request.body, 's256') ?? '';
    if (!(await missions.revoke(session.personId, s256))) {
      return message(request, reply, 'Not found', 'No such active mission of yours.', 404);
    }
    request.log.info({ event: 'mission.revoked' }, 'mission revoked');
    return reply.redirect('/missions', 303);
  });
}
