import { html, type SafeHtml } from '@aauth-ref/fastify';

/**
 * §Resource-Initiated Interaction step 2: before its own consent the PS tells the person that the
 * resource needs its own permissions first, and links to the resource's interaction endpoint. A link
 * (a top-level GET), so the page's CSP `form-action` is not involved.
 */
export function renderResourceInterstitial(options: {
  readonly resourceName: string;
  readonly continueUrl: string;
}): SafeHtml {
  return html`<p><strong>${options.resourceName}</strong> needs you to grant additional permissions first.</p>
<p>You will be taken to ${options.resourceName} and then brought back here to decide whether the agent may use this access.</p>
<p><a class="button" href="${options.continueUrl}">Continue to ${options.resourceName}</a></p>`;
}

/** The `interaction.url` was refused (not https, or not admitted by the egress policy). */
export function renderResourceRefused(resourceName: string): SafeHtml {
  return html`<p>${resourceName} asked to take you to an address this Person Server does not allow. The request was stopped; the agent has been told.</p>`;
}
