/**
 * A tiny HTML template: `html\`<p>${value}</p>\`` escapes every interpolation unless it is a
 * `SafeHtml` (the result of another `html` template, `renderMarkdown`, or a kit helper). Arrays are
 * rendered item by item; `null`, `undefined` and `false` render nothing.
 *
 * Escaping makes text safe in element content and in QUOTED attribute values — always quote
 * attributes. It does not make a URL safe in `href`/`action`: pass only URLs the server built, or
 * ones checked with `isSafeRedirect` / the Markdown link rules.
 */

const BRAND = Symbol('SafeHtml');

export class SafeHtml {
  readonly [BRAND] = true;
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  toString(): string {
    return this.#value;
  }
}

export function isSafeHtml(value: unknown): value is SafeHtml {
  return value instanceof SafeHtml;
}

const ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '`': '&#96;',
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (c) => ESCAPES[c]!);
}

export type HtmlValue =
  | SafeHtml
  | string
  | number
  | bigint
  | boolean
  | null
  | undefined
  | readonly HtmlValue[];

function render(value: HtmlValue): string {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof SafeHtml) return value.toString();
  if (Array.isArray(value)) return value.map((item: HtmlValue) => render(item)).join('');
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: readonly HtmlValue[]): SafeHtml {
  let out = strings[0] ?? '';
  for (let i = 0; i < values.length; i++) out += render(values[i]!) + (strings[i + 1] ?? '');
  return new SafeHtml(out);
}

/**
 * Marks a string the server itself produced as HTML. Never pass it anything that came from a
 * request, a database row written from a request, or an agent.
 */
export function trustedHtml(markup: string): SafeHtml {
  return new SafeHtml(markup);
}
