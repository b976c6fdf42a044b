import { html, postForm, renderMarkdown, type SafeHtml, submitButton } from '@aauth-ref/fastify';
import type { QuestionPlan, RelayPlan } from '../services/interaction-relay-service.js';
import { relayLink } from '../services/interaction-relay-service.js';
import type { PermissionPlan } from '../services/permission-service.js';
import type { WaitingRequest } from '../stores/prisma-governance.js';

/**
 * The person's side of the governance endpoints: a permission request (Approve / Deny with an
 * optional reason), a relayed interaction (the link to the resource, then Done / Decline) and a
 * question (Answer / Decline). Agent text is Markdown, always sanitized; parameters are shown as
 * escaped JSON.
 */

export const DECIDE_PATH = '/governance/decide';

interface Common {
  readonly requestId: string;
  readonly csrf: SafeHtml;
  readonly devMode: boolean;
}

function agentFacts(plan: { agent: { iss: string; sub: string }; missionS256?: string }): SafeHtml {
  return html`<dl>
<dt>Agent identifier</dt><dd><code>${plan.agent.sub}</code></dd>
<dt>Agent Provider</dt><dd>${plan.agent.iss}</dd>
<dt>Mission</dt><dd>${plan.missionS256 ? html`<a href="/missions"><code>${plan.missionS256}</code></a>` : 'none'}</dd>
</dl>`;
}

function hidden(requestId: string): SafeHtml {
  return html`<input type="hidden" name="request" value="${requestId}">`;
}

export function renderPermissionReview(options: Common & { plan: PermissionPlan }): SafeHtml {
  const { plan, devMode } = options;
  const form = postForm({
    action: DECIDE_PATH,
    csrf: options.csrf,
    label: 'Your decision',
    body: html`${hidden(options.requestId)}
<label for="field-reason">Reason (optional, shown to the agent if you deny)</label>
<textarea id="field-reason" name="reason" rows="3" maxlength="2000"></textarea>
${submitButton('Approve', { name: 'decision', value: 'approve' })}
${submitButton('Deny', { name: 'decision', value: 'deny', kind: 'secondary' })}`,
  });
  return html`<p>An agent asks for your permission before it acts. Approve only what you expect it to do for you.</p>
${agentFacts(plan)}
<section aria-labelledby="permission-action"><h2 id="permission-action">Action</h2><p><code>${plan.action}</code></p>
${plan.description ? renderMarkdown(plan.description, { devMode }) : html`<p>The agent gave no description.</p>`}
${plan.parameters ? html`<h3>Parameters</h3><pre>${JSON.stringify(plan.parameters, null, 2)}</pre>` : ''}</section>
${form}`;
}

export function renderRelayReview(options: Common & { plan: RelayPlan }): SafeHtml {
  const { plan, devMode } = options;
  const link = relayLink(plan, devMode);
  const target = link
    ? html`<p><a href="${link}" rel="noopener noreferrer">Continue at ${new URL(link).origin}</a></p>
<p>Check that the page there shows the code <strong><code>${plan.code}</code></strong>.</p>`
    : html`<p>The address the agent gave cannot be opened safely, so it is not shown. Decline this request.</p>`;
  const form = postForm({
    action: DECIDE_PATH,
    csrf: options.csrf,
    label: 'When you are done',
    body: html`${hidden(options.requestId)}
${link ? submitButton('I have finished there', { name: 'decision', value: 'done' }) : ''}
${submitButton('Decline', { name: 'decision', value: 'decline', kind: 'secondary' })}`,
  });
  return html`<p>An agent needs you to complete ${plan.type === 'payment' ? 'a payment approval' : 'a step'} on another site. This Person Server passes the request on; what you do there is between you and that site.</p>
${agentFacts(plan)}
${plan.description ? html`<section aria-labelledby="relay-context"><h2 id="relay-context">What the agent says</h2>${renderMarkdown(plan.description, { devMode })}</section>` : ''}
${target}
${form}`;
}

export function renderQuestionReview(options: Common & { plan: QuestionPlan }): SafeHtml {
  const { plan, devMode } = options;
  const form = postForm({
    action: DECIDE_PATH,
    csrf: options.csrf,
    label: 'Your answer',
    body: html`${hidden(options.requestId)}
<label for="field-answer">Your answer</label>
<textarea id="field-answer" name="answer" rows="4" maxlength="4000"></textarea>
${submitButton('Send answer', { name: 'decision', value: 'answer' })}
${submitButton('Decline to answer', { name: 'decision', value: 'decline', kind: 'secondary' })}`,
  });
  return html`<p>An agent asks you a question. Your answer goes to the agent.</p>
${agentFacts(plan)}
${plan.description ? html`<section aria-labelledby="question-context"><h2 id="question-context">Context</h2>${renderMarkdown(plan.description, { devMode })}</section>` : ''}
<section aria-labelledby="question-text"><h2 id="question-text">Question</h2>${renderMarkdown(plan.question, { devMode })}</section>
${form}`;
}

const KIND_LABELS: Record<WaitingRequest['kind'], string> = {
  permission: 'Permission',
  interaction_relay: 'Relayed interaction',
  question: 'Question',
};

/** The dashboard section listing what waits for the person. */
export function renderWaitingRequests(waiting: readonly WaitingRequest[]): SafeHtml {
  if (waiting.length === 0) return html``;
  return html`<h2>Waiting for you</h2>
<table><caption>Requests from your agents</caption>
<thead><tr><th scope="col">Request</th><th scope="col">Agent</th><th scope="col">Asked</th><th scope="col">Action</th></tr></thead>
<tbody>${waiting.map(
    (w) =>
      html`<tr><td>${KIND_LABELS[w.kind]}${w.kind === 'question' ? '' : html`: <code>${w.summary}</code>`}</td><td><code>${w.agentSub}</code></td><td>${w.createdAt.toISOString()}</td><td><a href="/governance/${w.id}">Open</a></td></tr>`,
  )}</tbody></table>`;
}
