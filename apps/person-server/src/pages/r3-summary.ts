import { html, type SafeHtml } from '@aauth-ref/fastify';

/**
 * The R3 part of a consent, token or mission log entry in one line for the person's lists: the
 * document's hash in short form (the whole hash in `title`) and the operations allowed. Everything
 * here came from a resource's document, so it is only ever escaped text.
 */
export interface R3SummaryInput {
  readonly s256: string;
  /** Absent: nothing was granted yet (a request still waiting or refused); only the hash shows. */
  readonly granted?: readonly unknown[];
  readonly perCall?: readonly unknown[];
  readonly proposal?: boolean;
}

const SHORT_HASH_LENGTH = 10;

export function shortS256(s256: string): string {
  return s256.length > SHORT_HASH_LENGTH ? `${s256.slice(0, SHORT_HASH_LENGTH)}…` : s256;
}

/** An operation by the identifying member of its vocabulary (R3 §Standard Vocabularies). */
export function r3OperationLabel(op: unknown): string {
  if (typeof op === 'object' && op !== null) {
    for (const name of ['tool', 'operationId', 'method', 'operation']) {
      const value = (op as Record<string, unknown>)[name];
      if (typeof value === 'string') return value;
    }
  }
  return JSON.stringify(op) ?? String(op);
}

/** `{vocabulary, operations}` (a token's `r3_granted`) or a bare operation list, as a list. */
export function r3OperationList(value: unknown): unknown[] {
  if (Array.isArray(value)) return value;
  if (typeof value === 'object' && value !== null) {
    const operations = (value as { operations?: unknown }).operations;
    if (Array.isArray(operations)) return operations;
  }
  return [];
}

export function renderR3Summary(input: R3SummaryInput): SafeHtml {
  const labels = (ops: readonly unknown[]) => ops.map(r3OperationLabel).join(', ');
  const { granted, perCall = [] } = input;
  const operations =
    granted === undefined
      ? ''
      : html`: ${granted.length === 0 ? 'no operation allowed' : html`allowed ${labels(granted)}`}${perCall.length === 0 ? '' : html`; ask before each call: ${labels(perCall)}`}`;
  return html`<span class="r3">${input.proposal ? 'R3 proposal' : 'R3 document'} <code title="${input.s256}">${shortS256(input.s256)}</code>${operations}</span>`;
}
