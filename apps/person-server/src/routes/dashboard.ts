import { formString, html, type SafeHtml, submitButton } from '@aauth-ref/fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { renderWaitingRequests } from '../pages/governance-pages.js';
import { r3OperationList, renderR3Summary } from '../pages/r3-summary.js';
import type { PersonRecord } from '../services/ports.js';
import { createPrismaDashboardStore } from '../stores/prisma-dashboard.js';
import { listWaitingRequests } from '../stores/prisma-governance.js';
import type { AppContext } from './context.js';
import { redirectToSignIn, sendPsPage } from './pages.js';

/**
 * `/dashboard`: what the signed-in person has granted — connected agents (§Agent-Person Binding),
 * consents, live tokens — each with a Revoke button (CSRF-protected form). Every lookup is scoped to
 * the person, so an entry of someone else is answered exactly like one that does not exist (404).
 */
export function registerDashboardRoute(app: FastifyInstance, context: AppContext): void {
  const { sessions, revocations } = context;
  const dashboard = createPrismaDashboardStore(context.prisma, context.issuer);
  const now = () => new Date(context.clock.now());

  async function currentPerson(
    request: FastifyRequest,
    reply: FastifyReply,
  ): Promise<PersonRecord | undefined> {
    const session = await sessions.current(request);
    if (!session) return undefined;
    const person = await context.persons.findPerson(session.personId);
    if (!person) await sessions.signOut(request, reply);
    return person;
  }

  function sendProblem(request: FastifyRequest, reply: FastifyReply, status: 400 | 404, message: string) {
    reply.header('cache-control', 'no-store');
    const title = status === 404 ? 'Not found' : 'Bad request';
    const body = html`<p>${message}</p><p><a href="/dashboard">Back to the dashboard</a></p>`;
    return sendPsPage(context, request, reply, title, body, status);
  }

  function revokeForm(
    csrf: SafeHtml,
    action: string,
    fields: Record<string, string>,
    label: string,
  ): SafeHtml {
    return html`<form method="post" action="${action}" class="inline" aria-label="${label}">${csrf}${Object.entries(
      fields,
    ).map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}">`)}${submitButton(
      'Revoke',
      {
        kind: 'secondary',
      },
    )}</form>`;
  }

  app.get('/dashboard', async (request, reply) => {
    const person = await currentPerson(request, reply);
    if (!person) return redirectToSignIn(request, reply);
    const [bindings, enrollments, resourceConsents, scopeConsents, tokens] = await Promise.all([
      context.bindings.listForPerson(person.id),
      context.enrollmentStore.listForPerson(person.id),
      dashboard.listResourceConsents(person.id),
      dashboard.listScopeConsents(person.id),
      dashboard.listLiveTokens(person.id, now()),
    ]);
    // Permission requests, relayed interactions and questions of the person's agents (§PS Governance Endpoints).
    const waiting = await listWaitingRequests(context.prisma, person.id, now());
    const csrf = await sessions.csrfField(request, reply);
    reply.header('cache-control', 'no-store');
    const body = html`<p>Signed in as <strong>${person.displayName}</strong> (${person.username}).</p>
<p><a href="/missions">Missions</a>: the work you approved for your agents, its log, and Revoke.</p>
${renderWaitingRequests(waiting)}
<h2>Connected agents</h2>
${
  bindings.length === 0
    ? html`<p>No agent is connected to you yet.</p>`
    : html`<table><caption>Agents that act for you</caption>
<thead><tr><th scope="col">Agent</th><th scope="col">Agent Provider</th><th scope="col">Name</th><th scope="col">Platform</th><th scope="col">Device</th><th scope="col">Connected</th><th scope="col">Action</th></tr></thead>
<tbody>${bindings.map(
        (b) =>
          html`<tr><td><code>${b.agentSub}</code></td><td>${b.agentIss}</td><td>${b.agentName ?? ''}</td><td>${b.platform ?? ''}</td><td>${b.device ?? ''}</td><td>${b.createdAt.toISOString()}</td><td>${revokeForm(
            csrf,
            '/dashboard/agents/revoke',
            { agent_iss: b.agentIss, agent_sub: b.agentSub },
            `Disconnect ${b.agentSub}`,
          )}</td></tr>`,
      )}</tbody></table>
<p>Disconnecting an agent revokes the tokens issued to it for you and what you allowed it; it can be connected again only by a new approval.</p>`
}
<h2>Enrolled demo agents</h2>
${
  enrollments.length === 0
    ? html`<p>You have not enrolled a demo agent.</p>`
    : html`<table><caption>Agent keys enrolled at this Agent Provider</caption>
<thead><tr><th scope="col">Agent</th><th scope="col">Status</th><th scope="col">Name</th><th scope="col">Platform</th><th scope="col">Device</th><th scope="col">Enrolled</th></tr></thead>
<tbody>${enrollments.map(
        (e) =>
          html`<tr><td><code>${e.agentSub}</code></td><td>${e.status}</td><td>${e.name ?? ''}</td><td>${e.platform ?? ''}</td><td>${e.device ?? ''}</td><td>${e.createdAt.toISOString()}</td></tr>`,
      )}</tbody></table>`
}
<h2>Consents</h2>
${
  resourceConsents.length === 0
    ? html`<p>No agent may act as you at a resource.</p>`
    : html`<table><caption>Agents allowed to act as you at a resource</caption>
<thead><tr><th scope="col">Agent</th><th scope="col">Resource</th><th scope="col">Since</th><th scope="col">Action</th></tr></thead>
<tbody>${resourceConsents.map(
        (c) =>
          html`<tr><td><code>${c.agentSub}</code></td><td>${c.resource}</td><td>${c.createdAt.toISOString()}</td><td>${revokeForm(
            csrf,
            '/dashboard/consents/revoke',
            { kind: 'resource', agent_iss: c.agentIss, agent_sub: c.agentSub, resource: c.resource },
            `Revoke consent for ${c.agentSub} at ${c.resource}`,
          )}</td></tr>`,
      )}</tbody></table>`
}
${
  scopeConsents.length === 0
    ? html`<p>No scope consent is remembered.</p>`
    : html`<table><caption>Scopes and R3 documents you allowed</caption>
<thead><tr><th scope="col">Agent</th><th scope="col">Resource</th><th scope="col">Scope / R3</th><th scope="col">Mission</th><th scope="col">Since</th><th scope="col">Action</th></tr></thead>
<tbody>${scopeConsents.map(
        (c) =>
          html`<tr><td><code>${c.agentSub}</code></td><td>${c.resource}</td><td>${c.scope}${
            c.r3S256 === null
              ? ''
              : html`${c.scope === '' ? '' : html`<br>`}${renderR3Summary({
                  s256: c.r3S256,
                  granted: r3OperationList(c.r3Granted),
                  perCall: r3OperationList(c.r3PerCall),
                })}`
          }</td><td>${c.missionS256 ? html`<code>${c.missionS256}</code>` : 'any'}</td><td>${c.createdAt.toISOString()}</td><td>${revokeForm(
            csrf,
            '/dashboard/consents/revoke',
            { kind: 'scope', id: c.id },
            `Revoke scope consent ${c.scope} at ${c.resource}`,
          )}</td></tr>`,
      )}</tbody></table>`
}
<h2>Issued tokens</h2>
${
  tokens.length === 0
    ? html`<p>No token issued for you is live.</p>`
    : html`<table><caption>Person and auth tokens not yet expired</caption>
<thead><tr><th scope="col">Type</th><th scope="col">Agent</th><th scope="col">Resource</th><th scope="col">Scope / R3</th><th scope="col">Expires</th><th scope="col">Action</th></tr></thead>
<tbody>${tokens.map(
        (token) =>
          html`<tr><td>${token.kind === 'auth' ? 'Auth token' : 'Person token'}</td><td><code>${token.agentSub}</code></td><td>${token.resource}</td><td>${token.scope ?? ''}${
            token.r3 === undefined
              ? ''
              : html`${token.scope ? html`<br>` : ''}${renderR3Summary({
                  s256: token.r3.s256,
                  granted: r3OperationList(token.r3.granted),
                  perCall: r3OperationList(token.r3.perCall),
                  proposal: token.r3.proposal,
                })}`
          }</td><td>${token.exp.toISOString()}</td><td>${revokeForm(
            csrf,
            '/dashboard/tokens/revoke',
            { kind: token.kind, jti: token.jti },
            `Revoke ${token.kind} token for ${token.resource}`,
          )}</td></tr>`,
      )}</tbody></table>`
}`;
    return sendPsPage(context, request, reply, 'Dashboard', body);
  });

  app.post('/dashboard/agents/revoke', { preHandler: sessions.verifyCsrf }, async (request, reply) => {
    const person = await currentPerson(request, reply);
    if (!person) return redirectToSignIn(request, reply);
    const iss = formString(request.body, 'agent_iss');
    const sub = formString(request.body, 'agent_sub');
    if (!iss || !sub) return sendProblem(request, reply, 400, 'The form names no agent.');
    if (!(await revocations.revokeBinding(person.id, { iss, sub }))) {
      return sendProblem(request, reply, 404, 'No such agent is connected to you.');
    }
    return reply.redirect('/dashboard', 303);
  });

  app.post('/dashboard/consents/revoke', { preHandler: sessions.verifyCsrf }, async (request, reply) => {
    const person = await currentPerson(request, reply);
    if (!person) return redirectToSignIn(request, reply);
    const kind = formString(request.body, 'kind');
    let revoked: boolean;
    if (kind === 'resource') {
      const agentIss = formString(request.body, 'agent_iss');
      const agentSub = formString(request.body, 'agent_sub');
      const resource = formString(request.body, 'resource');
      if (!agentIss || !agentSub || !resource)
        return sendProblem(request, reply, 400, 'The form names no consent.');
      revoked = await dashboard.revokeResourceConsent(person.id, { agentIss, agentSub, resource }, now());
    } else if (kind === 'scope') {
      const id = formString(request.body, 'id');
      if (!id) return sendProblem(request, reply, 400, 'The form names no consent.');
      revoked = await dashboard.revokeScopeConsent(person.id, id, now());
    } else {
      return sendProblem(request, reply, 400, 'The form names no consent.');
    }
    if (!revoked) return sendProblem(request, reply, 404, 'No such consent of yours is in force.');
    request.log.info({ event: 'consent.revoked', kind }, 'consent revoked');
    return reply.redirect('/dashboard', 303);
  });

  app.post('/dashboard/tokens/revoke', { preHandler: sessions.verifyCsrf }, async (request, reply) => {
    const person = await currentPerson(request, reply);
    if (!person) return redirectToSignIn(request, reply);
    const kind = formString(request.body, 'kind');
    const jti = formString(request.body, 'jti');
    if (!jti || (kind !== 'auth' && kind !== 'person')) {
      return sendProblem(request, reply, 400, 'The form names no token.');
    }
    const revoked =
      kind === 'auth'
        ? await revocations.revokeAuthToken(person.id, jti)
        : await revocations.revokePersonToken(person.id, jti);
    if (!revoked) return sendProblem(request, reply, 404, 'No such live token of yours.');
    return reply.redirect('/dashboard', 303);
  });
}
