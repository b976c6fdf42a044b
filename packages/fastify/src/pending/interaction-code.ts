import { html, type SafeHtml } from '../web/html.js';
import { submitButton, textField } from '../web/layout.js';
import type { RateLimiter } from '../web/rate-limit.js';
import type { CodeLookup } from './engine.js';

/**
 * The code-entry half of an interaction page (§User Interaction, §Interaction Code Format): the code
 * only correlates, so the person signs in first; failed codes are limited per person and per address;
 * a code is consumed once, by the first signed-in visit, and only that person may come back to it.
 * What each server shows and decides afterwards stays its own.
 */

/** Failed interaction codes, limited per person (or account) and per client address. */
export interface CodeAttemptGuard {
  isThrottled(holderId: string, address: string): Promise<boolean>;
  recordFailure(holderId: string, address: string): Promise<void>;
}

export function createCodeAttemptGuard(perHolder: RateLimiter, perAddress: RateLimiter): CodeAttemptGuard {
  return {
    async isThrottled(holderId, address) {
      const decisions = await Promise.all([perHolder.check(holderId), perAddress.check(address)]);
      return decisions.some((decision) => !decision.allowed);
    },
    async recordFailure(holderId, address) {
      await Promise.all([perHolder.record(holderId), perAddress.record(address)]);
    },
  };
}

/** What a pending service offers the interaction page. */
export interface InteractionCodeSource<R extends { readonly id: string }> {
  lookupCode(input: string): Promise<CodeLookup<R>>;
  /** The open interaction `holderId` holds, if any. */
  findInteraction(id: string, holderId: string): Promise<R | undefined>;
  consumeCode(record: R, holderId: string, callbackUrl: string | null): Promise<boolean>;
}

export type CodeEntry<R> =
  | { readonly kind: 'throttled' }
  | { readonly kind: 'invalid_code' }
  | { readonly kind: 'expired'; readonly record: R }
  /** A spent code of the interaction this person already holds: a reload of the page. */
  | { readonly kind: 'held'; readonly record: R }
  | { readonly kind: 'open'; readonly record: R };

export interface InteractionCodeEntry<R> {
  /** The typed code for the signed-in `holderId`; every refusal is counted against them. */
  resolve(code: string, holderId: string, address: string): Promise<CodeEntry<R>>;
  /** Consumes an open code for `holderId`: the interaction it opened, or none when another got there first. */
  claim(record: R, holderId: string, callbackUrl: string | null): Promise<R | undefined>;
}

export function createInteractionCodeEntry<R extends { readonly id: string }>(
  source: InteractionCodeSource<R>,
  attempts: CodeAttemptGuard,
): InteractionCodeEntry<R> {
  return {
    async resolve(code, holderId, address) {
      if (await attempts.isThrottled(holderId, address)) return { kind: 'throttled' };
      const found = await source.lookupCode(code);
      if (found.kind === 'unknown') {
        await attempts.recordFailure(holderId, address);
        return { kind: 'invalid_code' };
      }
      if (found.kind !== 'consumed') return found;
      // The person who opened it may reload the page; anyone else presenting a spent code is refused.
      const mine = await source.findInteraction(found.record.id, holderId);
      if (mine) return { kind: 'held', record: mine };
      await attempts.recordFailure(holderId, address);
      return { kind: 'invalid_code' };
    },

    async claim(record, holderId, callbackUrl) {
      if (!(await source.consumeCode(record, holderId, callbackUrl))) return undefined;
      return source.findInteraction(record.id, holderId);
    },
  };
}

/** `?code=…&callback=…` of the interaction page; an empty code is no code (the entry form). */
export function readInteractionQuery(query: unknown): { code?: string; callback?: string } {
  const { code, callback } = (query ?? {}) as Record<string, unknown>;
  return {
    ...(typeof code === 'string' && code !== '' ? { code } : {}),
    ...(typeof callback === 'string' ? { callback } : {}),
  };
}

export interface CodeEntryFormOptions {
  /** Default `/interaction`. */
  readonly action?: string;
  readonly hint?: string;
}

/** The form a person types a code into (`GET`, so the result is the same page with `?code=`). */
export function codeEntryForm(options: CodeEntryFormOptions = {}): SafeHtml {
  const hint = options.hint ?? 'The code your agent shows you, for example ABCD-1234.';
  return html`<form method="get" action="${options.action ?? '/interaction'}">
${textField({ name: 'code', label: 'Code', hint, autocomplete: 'off', required: true, maxlength: 64 })}
${submitButton('Continue')}
</form>`;
}

/** A short page of the interaction flow: its title, text and status. */
export interface InteractionNotice {
  readonly title: string;
  readonly text: string;
  readonly status: number;
  /** Sent as `Retry-After`. */
  readonly retryAfter?: number;
}

/** The notices the PS and resource interaction pages share, worded alike. */
export const INTERACTION_NOTICES = {
  throttled: {
    title: 'Too many attempts',
    text: 'Too many codes were not accepted (invalid_code). Wait a while before trying again.',
    status: 429,
    retryAfter: 900,
  },
  invalidCode: {
    title: 'Code not accepted',
    text: 'This code is not valid or has already been used (invalid_code). Ask the agent for a new one.',
    status: 410,
  },
  expired: {
    title: 'Code expired',
    text: 'This request has expired (expired). Ask the agent to start again.',
    status: 408,
  },
  callbackRefused: {
    title: 'Callback not allowed',
    text: "The return address given with this code is not the agent's.",
    status: 400,
  },
  closed: {
    title: 'Request closed',
    text: 'This request is no longer waiting for a decision.',
    status: 410,
  },
} as const satisfies Readonly<Record<string, InteractionNotice>>;
