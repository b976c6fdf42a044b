import { html, postForm, renderMarkdown, type SafeHtml, submitButton } from '@aauth-ref/fastify';
import type {
  CompletionPlan,
  MissionLogView,
  MissionProposalPlan,
  MissionView,
  UpdatePlan,
} from '../services/mission-service.js';
import type { ClarificationState } from '../services/pending-service.js';
import { renderTurn } from './consent-page.js';
import { r3OperationList, renderR3Summary } from './r3-summary.js';

/**
 * The person's mission pages: the review of a proposal (§Mission Creation: edit the description,
 * narrow tools and resources, set an expiry, approve or deny), the review of a completion (§Mission
 * Completion: accept or ask), and the missions list (`mission_control_endpoint`: state, the blob and
 * its `s256`, accepted updates, the full log). Agent text is Markdown, always sanitized; the blob is
 * shown as its exact bytes, escaped.
 */

const UTF8 = new TextDecoder('utf-8');

function markdown(text: string, devMode: boolean): SafeHtml {
  return renderMarkdown(text, { devMode });
}

export interface ChatOptions {
  readonly requestId: string;
  readonly csrf: SafeHtml;
  readonly devMode: boolean;
  readonly clarificationAllowed: boolean;
  readonly clarification: ClarificationState;
  readonly canAsk: boolean;
  readonly roundsLeft: number;
}

function renderChat(options: ChatOptions): SafeHtml {
  if (!options.clarificationAllowed) return html``;
  const turns = options.clarification.turns;
  const form = options.canAsk
    ? postForm({
        action: '/interaction/clarify',
        csrf: options.csrf,
        label: 'Ask the agent',
        body: html`<input type="hidden" name="request" value="${options.requestId}">
<label for="field-question">Your question</label>
<p class="hint" id="field-question-hint">The agent sees your question and answers it. ${options.roundsLeft} ${options.roundsLeft === 1 ? 'question' : 'questions'} left.</p>
<textarea id="field-question" name="question" rows="3" maxlength="2000" required aria-describedby="field-question-hint"></textarea>
${submitButton('Ask the agent', { kind: 'secondary' })}`,
      })
    : '';
  return html`<section aria-labelledby="mission-chat">
<h2 id="mission-chat">Questions to the agent</h2>
${turns.length > 0 ? html`<ol class="chat">${turns.map((turn, i) => renderTurn(turn, i, options.devMode))}</ol>` : ''}
${form}
</section>`;
}

export interface ProposalReviewOptions extends ChatOptions {
  readonly plan: MissionProposalPlan;
  readonly step: number;
}

export function renderProposalReview(options: ProposalReviewOptions): SafeHtml {
  const { plan, devMode } = options;
  const { proposal } = plan;
  const tools = proposal.tools ?? [];
  const resources = proposal.resources ?? [];
  const decision = postForm({
    action: '/interaction/mission',
    csrf: options.csrf,
    label: 'Your decision',
    body: html`<input type="hidden" name="request" value="${options.requestId}">
<input type="hidden" name="step" value="${String(options.step)}">
<label for="field-description">Mission description (Markdown; you may edit it)</label>
<textarea id="field-description" name="description" rows="8" maxlength="20000" required>${proposal.description}</textarea>
${
  tools.length === 0
    ? ''
    : html`<fieldset><legend>Tools the agent may use without asking</legend>
${tools.map(
  (tool, i) =>
    html`<div><input type="checkbox" id="tool-${String(i)}" name="tool" value="${tool.name}" checked> <label for="tool-${String(i)}"><code>${tool.name}</code> — ${tool.description}</label></div>`,
)}</fieldset>`
}
${
  resources.length === 0
    ? ''
    : html`<fieldset><legend>Resources the agent may act at as you</legend>
${resources.map(
  (resource, i) =>
    html`<div><input type="checkbox" id="resource-${String(i)}" name="resource" value="${resource}" checked> <label for="resource-${String(i)}">${resource}</label></div>`,
)}</fieldset>`
}
<label for="field-expires">Ends at (UTC, optional)</label>
<input type="datetime-local" id="field-expires" name="expires_at">
${submitButton('Approve', { name: 'decision', value: 'approve' })}
${submitButton('Deny', { name: 'decision', value: 'deny', kind: 'secondary' })}`,
  });
  return html`<p>An agent proposes a mission: work it will do for you. Approving lets it name this mission when it asks for access, and the mission log records everything it does under it.</p>
<dl>
<dt>Agent identifier</dt><dd><code>${plan.agent.sub}</code></dd>
<dt>Agent Provider</dt><dd>${plan.agent.iss}</dd>
</dl>
<section aria-labelledby="mission-proposal"><h2 id="mission-proposal">The proposal</h2>${markdown(proposal.description, devMode)}</section>
${renderChat(options)}
${decision}`;
}

export interface CompletionReviewOptions extends ChatOptions {
  readonly plan: CompletionPlan;
  readonly mission: MissionView | undefined;
  readonly step: number;
}

function acceptedUpdates(log: readonly MissionLogView[]): MissionLogView[] {
  return log.filter((entry) => entry.kind === 'update');
}

export function renderCompletionReview(options: CompletionReviewOptions): SafeHtml {
  const { plan, mission, devMode } = options;
  const accept = postForm({
    action: '/interaction/mission',
    csrf: options.csrf,
    label: 'Your decision',
    body: html`<input type="hidden" name="request" value="${options.requestId}">
<input type="hidden" name="step" value="${String(options.step)}">
${submitButton('Accept', { name: 'decision', value: 'accept' })}
${submitButton('Keep it open', { name: 'decision', value: 'decline', kind: 'secondary' })}`,
  });
  const updates = mission ? acceptedUpdates(mission.log) : [];
  return html`<p>The agent says this mission is finished. Accepting ends the mission. To continue it, ask a question, or choose <strong>Keep it open</strong>: the mission stays active.</p>
<section aria-labelledby="completion-summary"><h2 id="completion-summary">The agent's summary</h2>${markdown(plan.summary, devMode)}</section>
${
  mission
    ? html`<section aria-labelledby="completion-mission"><h2 id="completion-mission">The mission you approved</h2>
<p><code>${mission.s256}</code></p>${markdown(mission.description, devMode)}
${updates.length === 0 ? '' : html`<h3>Accepted updates</h3><ol>${updates.map((u) => html`<li>${markdown(String(u.detail.description ?? ''), devMode)}</li>`)}</ol>`}</section>`
    : ''
}
${renderChat(options)}
${accept}`;
}

export interface UpdateReviewOptions extends ChatOptions {
  readonly plan: UpdatePlan;
  readonly mission: MissionView | undefined;
  readonly step: number;
}

/**
 * §Mission Update, §Incremental Consent: the update is shown with the accumulated picture — the
 * approved description and every update already accepted — not the increment alone.
 */
export function renderUpdateReview(options: UpdateReviewOptions): SafeHtml {
  const { plan, mission, devMode } = options;
  const decision = postForm({
    action: '/interaction/mission',
    csrf: options.csrf,
    label: 'Your decision',
    body: html`<input type="hidden" name="request" value="${options.requestId}">
<input type="hidden" name="step" value="${String(options.step)}">
${submitButton('Accept', { name: 'decision', value: 'accept' })}
${submitButton('Decline', { name: 'decision', value: 'decline', kind: 'secondary' })}`,
  });
  const updates = mission ? acceptedUpdates(mission.log) : [];
  return html`<p>The agent reports a change in its work that reaches beyond what you approved. Accepting adds it to the mission's meaning; declining leaves the mission as it was.</p>
<section aria-labelledby="update-proposed"><h2 id="update-proposed">The update</h2>${markdown(plan.description, devMode)}
<p>It names servers you did not approve for this mission:</p><ul>${plan.unapprovedResources.map((r) => html`<li>${r}</li>`)}</ul></section>
${
  mission
    ? html`<section aria-labelledby="update-mission"><h2 id="update-mission">The mission so far</h2>
<p><code>${mission.s256}</code></p>${markdown(mission.description, devMode)}
${updates.length === 0 ? html`<p>No update accepted yet.</p>` : html`<h3>Updates already accepted</h3><ol>${updates.map((u) => html`<li>${markdown(String(u.detail.description ?? ''), devMode)}</li>`)}</ol>`}</section>`
    : ''
}
${renderChat(options)}
${decision}`;
}

export interface MissionsListOptions {
  readonly missions: readonly MissionView[];
  /** Open completion reviews: pending request id and mission. */
  readonly completions: readonly { id: string; missionS256: string; what: 'completion' | 'update' }[];
  readonly csrf: SafeHtml;
  readonly devMode: boolean;
}

/** A token request's R3 document (§Mission Log entries carry `r3_s256` and what was granted). */
function renderLogR3(detail: Readonly<Record<string, unknown>>): SafeHtml | '' {
  if (typeof detail.r3_s256 !== 'string') return '';
  return html`<br>${renderR3Summary({
    s256: detail.r3_s256,
    ...(detail.r3_granted === undefined
      ? {}
      : { granted: r3OperationList(detail.r3_granted), perCall: r3OperationList(detail.r3_per_call) }),
    proposal: detail.r3_proposal === true,
  })}`;
}

function renderLog(log: readonly MissionLogView[]): SafeHtml {
  return html`<table><caption>Mission log</caption>
<thead><tr><th scope="col">#</th><th scope="col">Time</th><th scope="col">Entry</th><th scope="col">Detail</th></tr></thead>
<tbody>${log.map(
    (entry, i) =>
      html`<tr><td>${String(i + 1)}</td><td>${entry.createdAt.toISOString()}</td><td>${entry.kind}${entry.s256 ? html`<br><code>${entry.s256}</code>` : ''}${renderLogR3(entry.detail)}</td><td><pre>${JSON.stringify(entry.detail, null, 2)}</pre></td></tr>`,
  )}</tbody></table>`;
}

function renderMission(mission: MissionView, options: MissionsListOptions): SafeHtml {
  const updates = acceptedUpdates(mission.log);
  const state =
    mission.status === 'active'
      ? 'active'
      : `terminated (${mission.terminationReason ?? 'no reason recorded'})`;
  const revoke =
    mission.status === 'active'
      ? html`<form method="post" action="/missions/revoke" class="inline" aria-label="Revoke mission ${mission.s256}">${options.csrf}<input type="hidden" name="s256" value="${mission.s256}">${submitButton('Revoke', { kind: 'secondary' })}</form>`
      : '';
  return html`<section class="mission" aria-label="Mission ${mission.s256}">
<h3><code>${mission.s256}</code></h3>
<dl>
<dt>State</dt><dd>${state}</dd>
<dt>Agent</dt><dd><code>${mission.agent}</code> (${mission.agentIss})</dd>
<dt>Approved</dt><dd>${mission.approvedAt.toISOString()}</dd>
${mission.expiresAt ? html`<dt>Ends at</dt><dd>${mission.expiresAt.toISOString()}</dd>` : ''}
${mission.terminatedAt ? html`<dt>Ended</dt><dd>${mission.terminatedAt.toISOString()}</dd>` : ''}
</dl>
${revoke}
<h4>Description</h4>${markdown(mission.description, options.devMode)}
<h4>Mission blob</h4>
<p>The exact approved bytes; their SHA-256 is the mission identifier above. <a href="/missions/${mission.s256}/blob">Download</a></p>
<pre class="blob">${UTF8.decode(mission.blob)}</pre>
<h4>Accepted updates</h4>
${
  updates.length === 0
    ? html`<p>None.</p>`
    : html`<ol>${updates.map(
        (u) =>
          html`<li><p><code>${u.s256 ?? ''}</code> — ${u.createdAt.toISOString()}</p>${markdown(String(u.detail.description ?? ''), options.devMode)}${u.blob ? html`<pre class="blob">${UTF8.decode(u.blob)}</pre>` : ''}</li>`,
      )}</ol>`
}
<h4>Log</h4>
${renderLog(mission.log)}
</section>`;
}

export function renderMissionsList(options: MissionsListOptions): SafeHtml {
  return html`<p>Missions you approved for your agents, what they did under each, and how each ended.</p>
${
  options.completions.length === 0
    ? ''
    : html`<h2>Waiting for you</h2><ul>${options.completions.map(
        (c) =>
          html`<li><a href="/interaction/requests/${c.id}">Review the ${c.what} of mission <code>${c.missionS256}</code></a></li>`,
      )}</ul>`
}
<h2>Your missions</h2>
${options.missions.length === 0 ? html`<p>No mission yet.</p>` : options.missions.map((m) => renderMission(m, options))}`;
}
