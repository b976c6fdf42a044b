import { html } from '@aauth-ref/fastify';
import type { FastifyInstance } from 'fastify';
import type { AppContext } from './context.js';
import { redirectToSignIn, sendPsPage } from './pages.js';

/** `/dashboard`: the agents connected to the signed-in person (bindings and enrolled demo agents). */
export function registerDashboardRoute(app: FastifyInstance, context: AppContext): void {
  app.get('/dashboard', async (request, reply) => {
    const session = await context.sessions.current(request);
    if (!session) return redirectToSignIn(request, reply);
    const person = await context.persons.findPerson(session.personId);
    if (!person) {
      await context.sessions.signOut(request, reply);
      return redirectToSignIn(request, reply);
    }
    const [bindings, enrollments] = await Promise.all([
      context.bindings.listForPerson(person.id),
      context.enrollmentStore.listForPerson(person.id),
    ]);
    reply.header('cache-control', 'no-store');
    const body = html`<p>Signed in as <strong>${person.displayName}</strong> (${person.username}).</p>
<h2>Connected agents</h2>
${
  bindings.length === 0
    ? html`<p>No agent is connected to you yet.</p>`
    : html`<table><caption>Agents that act for you</caption>
<thead><tr><th scope="col">Agent</th><th scope="col">Agent Provider</th><th scope="col">Name</th><th scope="col">Platform</th><th scope="col">Device</th><th scope="col">Connected</th></tr></thead>
<tbody>${bindings.map(
        (b) =>
          html`<tr><td><code>${b.agentSub}</code></td><td>${b.agentIss}</td><td>${b.agentName ?? ''}</td><td>${b.platform ?? ''}</td><td>${b.device ?? ''}</td><td>${b.createdAt.toISOString()}</td></tr>`,
      )}</tbody></table>`
}
<h2>Enrolled demo agents</h2>
${
  enrollments.length === 0
    ? html`<p>You have not enrolled a demo agent.</p>`
    : html`<table><caption>Agent keys enrolled at this Agent Provider</caption>
<thead><tr><th scope="col">Agent</th><th scope="col">Status</th><th scope="col">Name</th><th scope="col">Enrolled</th></tr></thead>
<tbody>${enrollments.map(
        (e) =>
          html`<tr><td><code>${e.agentSub}</code></td><td>${e.status}</td><td>${e.name ?? ''}</td><td>${e.createdAt.toISOString()}</td></tr>`,
      )}</tbody></table>`
}`;
    return sendPsPage(context, request, reply, 'Dashboard', body);
  });
}
