import { randomBytes } from 'node:crypto';
import { type Clock, type IdentifierPolicy, isEndpointUrl, type ResourceInteraction } from '@aauth-ref/core';
import type { AuthTokenPlan } from './auth-token-service.js';
import { storedTokenRequestOf } from './consent-view.js';
import type { DecidedStatus, PendingRecord, PendingService } from './pending-service.js';

/**
 * §Resource-Initiated Interaction: a resource token with an `interaction` claim makes the person run
 * the resource's own flow before the PS asks for consent. The PS sends the browser to
 * `{interaction.url}?code={interaction.code}&callback={ps_callback_url}`, where the callback is a
 * per-flow, unguessable PS URL; the resource's redirect back either carries an `error`
 * (§Interaction Callback Errors, mapped to the agent's polling error) or lets the PS consent follow.
 */

export const RESOURCE_CALLBACK_PATH = '/interaction/callback';

/** Admits an outbound URL under the deployment's egress policy; rejects when refused. */
export type AdmitEgressUrl = (url: string) => Promise<void>;

export interface ResourceInteractionDeps {
  readonly issuer: string;
  readonly clock: Clock;
  readonly identifierPolicy: IdentifierPolicy;
  readonly pending: PendingService;
  readonly admitUrl: AdmitEgressUrl;
}

/** §Interaction Callback Errors → the polling error the agent receives (§Polling Error Codes). */
export function mapCallbackError(error: string): DecidedStatus {
  switch (error) {
    case 'access_denied':
      return 'denied';
    case 'user_abandoned':
      return 'abandoned';
    case 'interaction_expired':
      return 'expired';
    default:
      // `server_error`, `temporarily_unavailable` and anything unknown.
      return 'failed';
  }
}

/** The callback `error` the PS passes on to the agent's own callback, when it gave one. */
export function agentCallbackErrorFor(status: DecidedStatus): string {
  switch (status) {
    case 'denied':
      return 'access_denied';
    case 'abandoned':
      return 'user_abandoned';
    case 'expired':
      return 'interaction_expired';
    default:
      return 'server_error';
  }
}

export type RedirectOutcome =
  | { readonly kind: 'redirect'; readonly url: string }
  /** The `interaction.url` is not https (dev: loopback http) or egress admission refused it. */
  | { readonly kind: 'refused' }
  | { readonly kind: 'not_open' };

export type CallbackOutcome =
  | { readonly kind: 'continue'; readonly record: PendingRecord }
  | { readonly kind: 'failed'; readonly record: PendingRecord; readonly status: DecidedStatus }
  /** Unknown callback, another person's, or already used. */
  | { readonly kind: 'unknown' };

export interface ResourceInteractionService {
  /** The resource flow this request still needs before the PS consent, if any. */
  pendingResourceInteraction(record: PendingRecord): ResourceInteraction | undefined;
  /** The continue link of the interstitial; creates the per-flow callback on first use. */
  prepareRedirect(record: PendingRecord, personId: string): Promise<RedirectOutcome>;
  /** Refuses the request after a refused `interaction.url`: the agent's poll answers `server_error`. */
  failRefused(record: PendingRecord, personId: string): Promise<void>;
  /** The resource redirected the browser back to `/interaction/callback/:id`. */
  handleCallback(callbackId: string, personId: string, error: string | undefined): Promise<CallbackOutcome>;
}

const CALLBACK_ID = /^[A-Za-z0-9_-]{43}$/;

export function createResourceInteractionService(deps: ResourceInteractionDeps): ResourceInteractionService {
  const { pending } = deps;

  function pendingResourceInteraction(record: PendingRecord): ResourceInteraction | undefined {
    if (record.kind !== 'auth_token' || record.resourceDoneAt !== null) return undefined;
    return (storedTokenRequestOf(record).plan as AuthTokenPlan).resourceInteraction;
  }

  async function isAdmitted(url: string): Promise<boolean> {
    // §Resource-Initiated Interaction: "MUST be an HTTPS URL … MUST apply its egress admission policy".
    if (!isEndpointUrl(url, deps.identifierPolicy)) return false;
    try {
      await deps.admitUrl(url);
      return true;
    } catch {
      return false;
    }
  }

  return {
    pendingResourceInteraction,

    async prepareRedirect(record, personId) {
      const interaction = pendingResourceInteraction(record);
      if (interaction === undefined || record.status !== 'interacting') return { kind: 'not_open' };
      if (!(await isAdmitted(interaction.url))) return { kind: 'refused' };
      let callbackId = record.resourceCallbackId;
      if (callbackId === null) {
        const candidate = randomBytes(32).toString('base64url');
        if (await pending.store.setResourceCallback(record.id, personId, candidate)) callbackId = candidate;
        else {
          const reread = await pending.findInteraction(record.id, personId);
          if (reread?.resourceCallbackId == null) return { kind: 'not_open' };
          callbackId = reread.resourceCallbackId;
        }
      }
      const target = new URL(interaction.url);
      target.searchParams.set('code', interaction.code);
      target.searchParams.set('callback', `${deps.issuer}${RESOURCE_CALLBACK_PATH}/${callbackId}`);
      return { kind: 'redirect', url: target.href };
    },

    async failRefused(record, personId) {
      await pending.fail(record, personId, 'failed');
    },

    async handleCallback(callbackId, personId, error) {
      if (!CALLBACK_ID.test(callbackId)) return { kind: 'unknown' };
      const record = await pending.store.findByResourceCallback(callbackId);
      // Only the person who started the flow, only while it is open, only once.
      if (
        record === undefined ||
        record.personId !== personId ||
        record.status !== 'interacting' ||
        record.terminalAt !== null ||
        record.resourceDoneAt !== null ||
        deps.clock.now() >= record.expiresAt.getTime()
      ) {
        return { kind: 'unknown' };
      }
      if (error !== undefined) {
        const status = mapCallbackError(error);
        if (!(await pending.fail(record, personId, status))) return { kind: 'unknown' };
        return { kind: 'failed', record, status };
      }
      const at = new Date(deps.clock.now());
      if (!(await pending.store.completeResourceInteraction(record.id, personId, at))) {
        return { kind: 'unknown' };
      }
      return { kind: 'continue', record: { ...record, resourceDoneAt: at } };
    },
  };
}
