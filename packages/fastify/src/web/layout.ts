import type { FastifyReply } from 'fastify';
import { DEFAULT_STYLESHEET_PATH } from './assets.js';
import { type HtmlValue, html, type SafeHtml } from './html.js';

/**
 * The accessible page skeleton and form parts every person-facing page uses: `lang`, a skip link,
 * one `<main>` with one `<h1>`, every field labelled, hints tied with `aria-describedby`, buttons
 * named by their visible text.
 */

export interface PageOptions {
  /** Both the `<title>` and the page's `<h1>`. */
  readonly title: string;
  readonly body: HtmlValue;
  /** Shown in the site header and appended to the `<title>`. */
  readonly siteName?: string;
  readonly lang?: string;
  readonly stylesheet?: string;
  /** Optional navigation, rendered in a labelled `<nav>`. */
  readonly nav?: HtmlValue;
}

export function renderPage(options: PageOptions): SafeHtml {
  const lang = /^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/.test(options.lang ?? '') ? options.lang! : 'en';
  const fullTitle = options.siteName ? `${options.title} — ${options.siteName}` : options.title;
  return html`<!doctype html>
<html lang="${lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${fullTitle}</title>
<link rel="stylesheet" href="${options.stylesheet ?? DEFAULT_STYLESHEET_PATH}">
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
${options.siteName ? html`<header class="site">${options.siteName}</header>` : ''}
${options.nav ? html`<nav aria-label="Main">${options.nav}</nav>` : ''}
<main id="main">
<h1>${options.title}</h1>
${options.body}
</main>
</body>
</html>
`;
}

/** Sends a page as `text/html` (the security headers come from `registerPageSecurityHeaders`). */
export function sendPage(reply: FastifyReply, page: SafeHtml, status = 200): FastifyReply {
  return reply.code(status).type('text/html; charset=utf-8').send(page.toString());
}

const ID_SAFE = /[^A-Za-z0-9_-]/g;

export interface TextFieldOptions {
  readonly name: string;
  readonly label: string;
  readonly type?: 'text' | 'email' | 'password' | 'search' | 'url';
  readonly value?: string;
  readonly hint?: string;
  readonly autocomplete?: string;
  readonly required?: boolean;
  readonly id?: string;
  readonly inputmode?: 'text' | 'numeric' | 'email';
  readonly maxlength?: number;
}

export function textField(options: TextFieldOptions): SafeHtml {
  const id = options.id ?? `field-${options.name.replace(ID_SAFE, '-')}`;
  const hintId = `${id}-hint`;
  return html`<label for="${id}">${options.label}</label>
${options.hint ? html`<p class="hint" id="${hintId}">${options.hint}</p>` : ''}
<input id="${id}" name="${options.name}" type="${options.type ?? 'text'}"${
    options.value !== undefined && options.type !== 'password' ? html` value="${options.value}"` : ''
  }${options.autocomplete ? html` autocomplete="${options.autocomplete}"` : ''}${
    options.required ? html` required` : ''
  }${options.inputmode ? html` inputmode="${options.inputmode}"` : ''}${
    options.maxlength ? html` maxlength="${options.maxlength}"` : ''
  }${options.hint ? html` aria-describedby="${hintId}"` : ''}>`;
}

export interface ButtonOptions {
  readonly name?: string;
  readonly value?: string;
  readonly kind?: 'primary' | 'secondary' | 'danger';
}

/** A submit button whose visible text is its accessible name (write it as an action: "Approve access"). */
export function submitButton(label: string, options: ButtonOptions = {}): SafeHtml {
  const cls = options.kind && options.kind !== 'primary' ? html` class="${options.kind}"` : '';
  const nv = options.name ? html` name="${options.name}" value="${options.value ?? ''}"` : '';
  return html`<button type="submit"${cls}${nv}>${label}</button>`;
}

export interface PostFormOptions {
  /** A path on this server, or a URL the server built. */
  readonly action: string;
  /** The `csrfField(...)` of this request. */
  readonly csrf: SafeHtml;
  readonly body: HtmlValue;
  /** Accessible name of the form, when the page has several. */
  readonly label?: string;
}

export function postForm(options: PostFormOptions): SafeHtml {
  return html`<form method="post" action="${options.action}"${
    options.label ? html` aria-label="${options.label}"` : ''
  }>
${options.csrf}
${options.body}
</form>`;
}

/** Errors at the top of a form, announced to screen readers. */
export function errorSummary(messages: readonly string[]): SafeHtml {
  if (messages.length === 0) return html``;
  return html`<div class="error-summary" role="alert"><h2>There is a problem</h2><ul>${messages.map(
    (m) => html`<li>${m}</li>`,
  )}</ul></div>`;
}

export interface ErrorPageOptions {
  readonly title: string;
  readonly message: string;
  readonly siteName?: string;
  /** A link back, e.g. to the page that holds the form. */
  readonly back?: { readonly href: string; readonly label: string };
}

export function renderErrorPage(options: ErrorPageOptions): SafeHtml {
  return renderPage({
    title: options.title,
    ...(options.siteName ? { siteName: options.siteName } : {}),
    body: html`<p>${options.message}</p>${
      options.back ? html`<p><a href="${options.back.href}">${options.back.label}</a></p>` : ''
    }`,
  });
}
