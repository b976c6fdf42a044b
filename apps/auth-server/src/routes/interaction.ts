import {
  codeEntryForm,
  createCodeAttemptGuard,
  formString,
  html,
  postForm,
  submitButton,
} from '@aauth-ref/fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { PendingRecord } from '../services/pending-store.js';
import { INTERACTION_PATH } from '../services/token-service.js';
import type { PageContext } from './context.js';
import { redirectToSignIn, sendAsPage, sendMessage, signedInPerson } from './pages.js';

/**
 * The interaction page of `requirement=interaction` (§PS-AS Trust Establishment "Interaction",
 * §Interaction Code Format): `/interaction?code=…`. The person signs in with their account here, the
 * first valid visit consumes the code (single use) and ties the request to them, and they confirm
 * the binding of their Person Server. Failed codes are rate limited per person and per address;
 * past the limit every code is refused with `invalid_code`.
 */
export function registerInteractionRoutes(app: FastifyInstance, context: PageContext): void {
  const { sessions, federation, codeAttempts } = context;
  const attempts = createCodeAttemptGuard(codeAttempts.perPerson, codeAttempts.perAddress);

  const invalidCode = (request: FastifyRequest, reply: FastifyReply) =>
    sendMessage(
      context,
      request,
      reply,
      'Code not accepted',
      'This code is not valid or has already been used (invalid_code). Ask for a new one.',
      410,
    );

  async function sendBindingPage(request: FastifyRequest, reply: FastifyReply, record: PendingRecord) {
    const form = postForm({
      action: INTERACTION_PATH,
      csrf: await sessions.csrfField(request, reply),
      label: 'Your decision',
      body: html`<input type="hidden" name="request" value="${record.id}">
${submitButton('Connect my Person Server', { name: 'decision', value: 'bind' })}
${submitButton('Decline', { name: 'decision', value: 'decline', kind: 'secondary' })}`,
    });
    const body = html`<p>A Person Server asks for access to a resource on your behalf. Connect it only if it is the Person Server you use.</p>
<dl>
<dt>Person Server</dt><dd>${record.context.ps}</dd>
<dt>Resource</dt><dd>${record.context.resource}</dd>
<dt>Requested scope</dt><dd>${record.context.scope ?? 'none'}</dd>
</dl>
<p>After you connect it, this access server trusts that Person Server for you and does not ask again.</p>
${form}`;
    return sendAsPage(context, request, reply, 'Connect your Person Server', body);
  }

  app.get(INTERACTION_PATH, async (request, reply) => {
    const person = await signedInPerson(context, request);
    if (!person) return redirectToSignIn(request, reply);
    const code = (request.query as Record<string, unknown>).code;
    if (typeof code !== 'string' || code === '') {
      const form = codeEntryForm({
        action: INTERACTION_PATH,
        hint: 'The code shown by your agent or Person Server, for example ABCD-EFGH.',
      });
      return sendAsPage(context, request, reply, 'Enter your code', form);
    }
    if (await attempts.isThrottled(person.id, request.ip)) {
      request.log.info({ event: 'interaction.throttled' }, 'interaction code attempts exhausted');
      return invalidCode(request, reply);
    }
    const lookup = await federation.openInteraction(code, person.id);
    if (lookup.kind === 'expired')
      return sendMessage(
        context,
        request,
        reply,
        'Request expired',
        'This request has expired (expired). Start again from your agent.',
        408,
      );
    if (lookup.kind === 'invalid_code') {
      await attempts.recordFailure(person.id, request.ip);
      request.log.info({ event: 'interaction.invalid_code' }, 'interaction code refused');
      return invalidCode(request, reply);
    }
    request.log.info({ event: 'interaction.opened', personId: person.id }, 'interaction code consumed');
    return sendBindingPage(request, reply, lookup.record);
  });

  app.post(INTERACTION_PATH, { preHandler: sessions.verifyCsrf }, async (request, reply) => {
    const person = await signedInPerson(context, request);
    if (!person) return redirectToSignIn(request, reply);
    const id = formString(request.body, 'request') ?? '';
    const decision = formString(request.body, 'decision');
    if (decision === 'decline') {
      const declined = await federation.decline(id, person.id);
      return declined
        ? sendMessage(
            context,
            request,
            reply,
            'Declined',
            'The request was declined. You can close this window.',
          )
        : sendMessage(
            context,
            request,
            reply,
            'Nothing to decide',
            'This request is no longer waiting for you.',
            404,
          );
    }
    if (decision !== 'bind')
      return sendMessage(context, request, reply, 'Choose an action', 'Connect or decline the request.', 400);
    const outcome = await federation.bind(id, person.id);
    request.log.info({ event: 'binding.decided', outcome, personId: person.id }, 'PS binding');
    switch (outcome) {
      case 'bound':
      case 'already_bound':
        return sendMessage(
          context,
          request,
          reply,
          'Person Server connected',
          'Your Person Server is connected to your account here. You can close this window.',
        );
      case 'bound_to_other':
        return sendMessage(
          context,
          request,
          reply,
          'Already connected to another account',
          'This person at that Person Server is already connected to another account here.',
          409,
        );
      default:
        return sendMessage(
          context,
          request,
          reply,
          'Nothing to decide',
          'This request is no longer waiting for you.',
          404,
        );
    }
  });
}
