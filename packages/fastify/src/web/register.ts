import type { FastifyInstance } from 'fastify';
import { DEFAULT_STYLESHEET_PATH, registerPageAssets } from './assets.js';
import { FORM_BODY_LIMIT, registerFormBodyParser } from './form-body.js';
import { registerPageSecurityHeaders } from './security-headers.js';

export interface WebKitOptions {
  /** Origins every page's forms may post or be redirected to, besides this server. */
  readonly formActions?: readonly string[];
  readonly stylesheetPath?: string;
  readonly formBodyLimit?: number;
}

/**
 * Everything person-facing pages need on the root instance, registered after `aauthPlugin`: the form
 * body parser, the stylesheet route and the security headers on every HTML response.
 */
export function registerWebKit(app: FastifyInstance, options: WebKitOptions = {}): void {
  registerFormBodyParser(app, options.formBodyLimit ?? FORM_BODY_LIMIT);
  registerPageAssets(app, options.stylesheetPath ?? DEFAULT_STYLESHEET_PATH);
  registerPageSecurityHeaders(app, options.formActions ? { formActions: options.formActions } : {});
}
