import { html, postForm, renderMarkdown, type SafeHtml, submitButton } from '@aauth-ref/fastify';
import type { ConsentR3, ConsentView } from '../services/consent-view.js';
import type { ClarificationTurn } from '../services/pending-service.js';

/**
 * The consent page body for a pending `/person` or `/token` request: who asks, for what, why, the
 * clarification chat, and the decision. Every Markdown value (descriptions, justification, questions,
 * answers) goes through `renderMarkdown`; everything else through the escaping `html` template.
 */

export interface ConsentPageOptions {
  readonly view: ConsentView;
  readonly requestId: string;
  /** The chat step the page shows; the decision is refused if the request changed since. */
  readonly step: number;
  readonly csrf: SafeHtml;
  readonly devMode: boolean;
  /** The agent is not yet connected to anyone: approving connects it to this person. */
  readonly isNewAgent: boolean;
  readonly canAsk: boolean;
  readonly roundsLeft: number;
}

/** §Resource Metadata `access_mode`: what the person is agreeing to, in words. */
const ACCESS_MODES: Readonly<Record<string, string>> = {
  'agent-token': 'The resource recognises the agent only.',
  'person-token': 'The resource lets the agent act as you on your identity alone.',
  'session-token': 'The resource asks for its own consent and then gives the agent a session.',
  'auth-token': 'The resource needs an authorization from this Person Server for each permission.',
};

function markdown(text: string, devMode: boolean): SafeHtml {
  return renderMarkdown(text, { devMode });
}

function renderAgent(view: ConsentView, devMode: boolean): SafeHtml {
  const { agent } = view;
  return html`<section aria-labelledby="consent-who">
<h2 id="consent-who">Who is asking</h2>
<dl>
<dt>Agent</dt><dd>${agent.name ?? agent.id}</dd>
${agent.description ? html`<dt>About the agent</dt><dd>${markdown(agent.description, devMode)}</dd>` : ''}
<dt>Agent identifier</dt><dd><code>${agent.id}</code></dd>
<dt>Agent Provider</dt><dd>${agent.provider}</dd>
${view.platform ? html`<dt>Platform</dt><dd>${view.platform}</dd>` : ''}
${view.device ? html`<dt>Device</dt><dd>${view.device}</dd>` : ''}
</dl>
${agent.detailsAvailable ? '' : html`<p class="hint">Details about this agent are unavailable: its provider could not be reached.</p>`}
</section>`;
}

function renderResource(view: ConsentView, devMode: boolean): SafeHtml {
  const { resource } = view;
  const mode = resource.accessMode;
  const scopes = view.scopes;
  return html`<section aria-labelledby="consent-what">
<h2 id="consent-what">What it asks for</h2>
<p>${
    view.kind === 'person_token'
      ? html`To act at <strong>${resource.name ?? resource.id}</strong> as you.`
      : html`Access to <strong>${resource.name ?? resource.id}</strong> on your behalf.`
  }</p>
<dl>
<dt>Resource</dt><dd>${resource.name ?? resource.id}</dd>
<dt>Resource address</dt><dd>${resource.id}</dd>
${resource.description ? html`<dt>About the resource</dt><dd>${markdown(resource.description, devMode)}</dd>` : ''}
${mode ? html`<dt>Access mode</dt><dd><code>${mode}</code>${Object.hasOwn(ACCESS_MODES, mode) ? html` — ${ACCESS_MODES[mode]!}` : ''}</dd>` : ''}
</dl>
${resource.detailsAvailable ? '' : html`<p class="hint">Details about this resource are unavailable: it could not be reached.</p>`}
${
  scopes === undefined
    ? ''
    : scopes.length === 0
      ? view.r3 === undefined
        ? html`<p>No specific permissions are requested.</p>`
        : ''
      : html`<h3>Permissions</h3>
<ul class="scopes">${scopes.map(
          (scope) =>
            html`<li><code>${scope.value}</code>${scope.description ? markdown(scope.description, devMode) : ''}</li>`,
        )}</ul>`
}
</section>`;
}

/**
 * R3 §R3 Processing: the resource's own description of the access (`display`) and its operations in
 * words, instead of bare scope strings. `summary` and the other members are plain text (escaped);
 * a proposal's `detail` is Markdown (sanitized by `renderMarkdown`).
 */
function renderR3(r3: ConsentR3, devMode: boolean): SafeHtml {
  const heading = r3.proposal ? 'The call the agent wants to make' : 'What the resource says this allows';
  return html`<section aria-labelledby="consent-r3">
<h2 id="consent-r3">${heading}</h2>
${r3.summary ? html`<p class="r3-summary"><strong>${r3.summary}</strong></p>` : ''}
${r3.detail ? html`<div class="r3-detail">${markdown(r3.detail, devMode)}</div>` : ''}
<dl>
${r3.implications ? html`<dt>What can happen</dt><dd>${r3.implications}</dd>` : ''}
${r3.dataAccessed ? html`<dt>Data it can see</dt><dd>${r3.dataAccessed}</dd>` : ''}
${r3.irreversible ? html`<dt>Cannot be undone</dt><dd class="warning">${r3.irreversible}</dd>` : ''}
</dl>
${
  r3.parameters === undefined
    ? ''
    : html`<h3>Details of this call</h3>
<dl class="r3-parameters">${r3.parameters.map(
        (p) =>
          html`<dt><code>${p.name}</code></dt><dd>${p.value}${p.digest ? html` <span class="hint">(excerpt; the full value stays between the agent and the resource)</span>` : ''}</dd>`,
      )}</dl>`
}
${
  r3.proposal
    ? html`<p>${r3.operations[0] ?? ''}, once, exactly as described. Approving does not allow any other call.</p>`
    : html`<h3>Operations</h3><ul class="r3-operations">${r3.operations.map((op) => html`<li>${op}</li>`)}</ul>`
}
<p class="hint">Resource document <code>${r3.s256}</code></p>
</section>`;
}

/** One choice per operation of a class document: allow, ask each time, or not allow. */
function renderR3Choices(r3: ConsentR3): SafeHtml {
  return html`<fieldset class="r3-choices"><legend>For each operation</legend>
${r3.operations.map(
  (op, i) => html`<label for="r3-op-${String(i)}">${op}</label>
<select id="r3-op-${String(i)}" name="r3_op_${String(i)}">
<option value="grant" selected>Allow</option>
<option value="per_call">Ask me before each call</option>
<option value="deny">Do not allow</option>
</select>`,
)}
</fieldset>`;
}

export function renderTurn(turn: ClarificationTurn, index: number, devMode: boolean): SafeHtml {
  const answer = turn.answer;
  let reply: SafeHtml;
  if (answer === undefined) reply = html`<p class="hint">Waiting for the agent's answer.</p>`;
  else if (answer.action === 'clarification_response') {
    reply = html`<h4>The agent answered</h4>${markdown(answer.text, devMode)}`;
  } else {
    reply = html`<h4>The agent changed its request</h4>
<p>It now asks for: ${answer.scope ? html`<code>${answer.scope}</code>` : 'no specific permissions'}.</p>
${answer.justification ? markdown(answer.justification, devMode) : ''}`;
  }
  return html`<li><h3>Question ${index + 1}</h3>${markdown(turn.question, devMode)}${reply}</li>`;
}

function renderChat(options: ConsentPageOptions): SafeHtml {
  const { view, devMode } = options;
  if (!view.clarificationAllowed) return html``;
  const turns = view.clarification.turns;
  const form = options.canAsk
    ? postForm({
        action: '/interaction/clarify',
        csrf: options.csrf,
        label: 'Ask the agent',
        body: html`<input type="hidden" name="request" value="${options.requestId}">
<label for="field-question">Your question</label>
<p class="hint" id="field-question-hint">The agent sees your question and can answer it or change its request. ${options.roundsLeft} ${options.roundsLeft === 1 ? 'question' : 'questions'} left.</p>
<textarea id="field-question" name="question" rows="3" maxlength="2000" required aria-describedby="field-question-hint"></textarea>
${submitButton('Ask the agent', { kind: 'secondary' })}`,
      })
    : options.roundsLeft === 0
      ? html`<p class="hint">You have asked as many questions as this request allows.</p>`
      : '';
  return html`<section aria-labelledby="consent-chat">
<h2 id="consent-chat">Questions to the agent</h2>
${turns.length > 0 ? html`<ol class="chat">${turns.map((turn, i) => renderTurn(turn, i, devMode))}</ol>` : ''}
${form}
</section>`;
}

export function renderConsentBody(options: ConsentPageOptions): SafeHtml {
  const { view, devMode } = options;
  const intro = options.isNewAgent
    ? 'A new agent asks to be connected to you and to act for you. Approve only if you started this.'
    : 'An agent connected to you asks to act for you.';
  const decision = postForm({
    action: '/interaction',
    csrf: options.csrf,
    label: 'Your decision',
    body: html`<input type="hidden" name="request" value="${options.requestId}">
<input type="hidden" name="step" value="${String(options.step)}">
${view.r3 !== undefined && !view.r3.proposal ? renderR3Choices(view.r3) : ''}
${submitButton('Approve', { name: 'decision', value: 'approve' })}
${submitButton('Deny', { name: 'decision', value: 'deny', kind: 'secondary' })}`,
  });
  return html`<p>${intro}</p>
${renderAgent(view, devMode)}
${renderResource(view, devMode)}
${view.r3 === undefined ? '' : renderR3(view.r3, devMode)}
${
  view.justification
    ? html`<section aria-labelledby="consent-why"><h2 id="consent-why">Why, according to the agent</h2>${markdown(view.justification, devMode)}</section>`
    : ''
}
${renderChat(options)}
${decision}`;
}

/**
 * R3 §R3 Processing in four-party access: the AS decides and issues, but the PS renders the
 * document's `display` before sending the person on to the AS's own interaction page.
 */
export function renderFederatedR3Body(options: {
  readonly r3: ConsentR3;
  readonly accessServer: string;
  readonly resource: string;
  readonly continueUrl?: string;
  readonly devMode: boolean;
}): SafeHtml {
  const { r3, accessServer, resource, continueUrl, devMode } = options;
  return html`<p>An agent acting for you asks for access to <strong>${resource}</strong>. Its access server, <strong>${accessServer}</strong>, decides what is granted and asks you on its own page.</p>
${renderR3(r3, devMode)}
${
  continueUrl === undefined
    ? html`<p>The access server is not waiting for you right now. The agent will be told how its request ends.</p>`
    : html`<p><a class="button" href="${continueUrl}">Continue to ${accessServer}</a></p>`
}`;
}
