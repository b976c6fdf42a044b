import { html, postForm, submitButton } from '@aauth-ref/fastify';
import type { FastifyInstance } from 'fastify';
import { BILLING_PREFIX } from '../services/token-service.js';
import type { PageContext } from './context.js';
import { redirectToSignIn, sendAsPage, sendMessage, signedInPerson } from './pages.js';

/**
 * The demo payment step of `402` (§AS Response "Payment required"): `/billing/<id>`, where a signed-in
 * person clicks **Pay**. Nothing is charged; the AS records a billing relationship with the Person
 * Server the request came from, and later requests from that PS skip the step.
 */
export function registerBillingRoutes(app: FastifyInstance, context: PageContext): void {
  const { sessions, federation } = context;
  const path = `${BILLING_PREFIX}/:id`;

  app.get<{ Params: { id: string } }>(path, async (request, reply) => {
    const person = await signedInPerson(context, request);
    if (!person) return redirectToSignIn(request, reply);
    const record = await federation.findBilling(request.params.id);
    if (!record)
      return sendMessage(context, request, reply, 'Nothing to pay', 'This payment is not pending.', 404);
    const body = html`<p>Set up billing for the Person Server below. This is a demonstration: nothing is charged.</p>
<dl>
<dt>Person Server</dt><dd>${record.ps}</dd>
<dt>Resource</dt><dd>${record.context.resource}</dd>
</dl>
${postForm({
  action: `${BILLING_PREFIX}/${request.params.id}`,
  csrf: await sessions.csrfField(request, reply),
  body: submitButton('Pay'),
})}`;
    return sendAsPage(context, request, reply, 'Billing', body);
  });

  app.post<{ Params: { id: string } }>(path, { preHandler: sessions.verifyCsrf }, async (request, reply) => {
    const person = await signedInPerson(context, request);
    if (!person) return redirectToSignIn(request, reply);
    if (!(await federation.pay(request.params.id, person.id)))
      return sendMessage(context, request, reply, 'Nothing to pay', 'This payment is not pending.', 404);
    request.log.info({ event: 'billing.established', personId: person.id }, 'billing relationship recorded');
    return sendMessage(
      context,
      request,
      reply,
      'Payment recorded',
      'Billing is set up. You can close this window.',
    );
  });
}
