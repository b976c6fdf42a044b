import {
  type AAuthError,
  InvalidRequest,
  isAAuthError,
  NotFound,
  type ProblemDetails,
  SignatureError,
  signatureErrorHeaders,
  TemporarilyUnavailable,
} from '@aauth-ref/core';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isDatabaseUnavailable } from './database-unavailable.js';

/**
 * The one root error handler (CONVENTIONS.md, *Errors*): `AAuthError`s render as
 * `application/problem+json` from `toProblem()`, signature failures add `Signature-Error` and
 * `Accept-Signature-*`, everything else is a `server_error` with a fixed detail. No library message
 * or stack reaches a client.
 */

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';
export const SERVER_ERROR_DETAIL = 'The server encountered an internal error.';

/** Headers a `403` must never carry (§Verification; Signature-Key §5.3). */
const SIGNATURE_CHALLENGE_HEADERS = [
  'signature-error',
  'accept-signature-scheme',
  'accept-signature-alg',
] as const;

/** Fixed, client-safe details for Fastify's own 4xx errors, by code. */
const FASTIFY_DETAILS: Readonly<Record<string, string>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'The request body is too large.',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'The request body is empty.',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'The request content type is not supported.',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'The request Content-Length does not match the body.',
  FST_ERR_CTP_INVALID_TYPE: 'The request Content-Type is invalid.',
  FST_ERR_CTP_EMPTY_TYPE: 'The request Content-Type is empty.',
  FST_ERR_BAD_URL: 'The request URL is not valid.',
  FST_ERR_MAX_PARAM_LENGTH: 'A path segment of the request URL is too long.',
};

interface ValidationEntry {
  readonly instancePath?: string;
  readonly keyword?: string;
  readonly params?: Record<string, unknown>;
}

/** Builds a detail from the schema keyword and location only — never from the offending value. */
function describeValidation(error: FastifyError): string {
  const context = error.validationContext ?? 'request';
  const first = (error.validation as readonly ValidationEntry[] | undefined)?.[0];
  if (!first) return `The request ${context} is invalid.`;
  const missing = first.params?.missingProperty;
  const at = first.instancePath && first.instancePath.length > 0 ? first.instancePath : '/';
  if (first.keyword === 'required' && typeof missing === 'string' && /^[\w.-]{1,64}$/.test(missing)) {
    return `The request ${context} is missing the member '${missing}'.`;
  }
  const where = /^[\w/.-]{1,128}$/.test(at) ? at : '/';
  return `The request ${context} is invalid at '${where}' (${first.keyword ?? 'schema'}).`;
}

function isFastifyError(error: unknown): error is FastifyError {
  return error instanceof Error && typeof (error as FastifyError).code === 'string';
}

interface Rendering {
  readonly error: AAuthError;
  /** Fastify's own 4xx keep their status (413, 415) with the `invalid_request` code. */
  readonly status: number;
}

/** Maps anything thrown to the error to render, or `undefined` for an internal failure. */
export function classifyError(error: unknown): Rendering | undefined {
  // The database away (stopped, restarting, out of connections) is transient, not a bug: 503 with
  // Retry-After, also when a service wrapped it in a server_error.
  if ((!isAAuthError(error) || error.status === 500) && isDatabaseUnavailable(error)) {
    const unavailable = new TemporarilyUnavailable('The service is temporarily unavailable.', {
      cause: error,
    });
    return { error: unavailable, status: 503 };
  }
  if (isAAuthError(error)) return { error, status: error.status };
  if (!isFastifyError(error)) return undefined;
  if (error.validation)
    return { error: new InvalidRequest(describeValidation(error), { cause: error }), status: 400 };
  const status = error.statusCode;
  if (status !== undefined && status >= 400 && status < 500 && error.code.startsWith('FST_')) {
    const detail = FASTIFY_DETAILS[error.code] ?? 'The request could not be processed.';
    return { error: new InvalidRequest(detail, { cause: error }), status };
  }
  return undefined;
}

function sendProblem(
  reply: FastifyReply,
  status: number,
  headers: Record<string, string>,
  problem: ProblemDetails,
) {
  reply.code(status).headers(headers);
  if (status === 403) for (const name of SIGNATURE_CHALLENGE_HEADERS) reply.removeHeader(name);
  // Pre-serialized: a route's response schema must not strip members from the problem document.
  return reply.type(PROBLEM_CONTENT_TYPE).send(JSON.stringify({ ...problem, status }));
}

/** Renders `error` as problem+json; logs protocol rejections at info and failures with their cause. */
export function renderError(thrown: unknown, request: FastifyRequest, reply: FastifyReply) {
  const rendering = classifyError(thrown);
  if (!rendering) {
    request.log.error({ event: 'request.failed', err: thrown }, 'unhandled error');
    return sendProblem(reply, 500, {}, { status: 500, error: 'server_error', detail: SERVER_ERROR_DETAIL });
  }
  const { error, status } = rendering;
  const headers = { ...error.headers };
  if (error instanceof SignatureError) {
    Object.assign(headers, signatureErrorHeaders(error));
    request.log.info({ event: 'signature.rejected', error: error.error }, 'signature rejected');
  } else if (status >= 500) {
    request.log.error(
      { event: 'request.failed', error: error.error, err: error.cause ?? error },
      'request failed',
    );
  } else {
    request.log.info({ event: 'request.rejected', error: error.error, status }, 'request rejected');
  }
  return sendProblem(reply, status, headers, error.toProblem());
}

/** Installs the error and not-found handlers on the root instance. */
export function registerErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((error, request, reply) => renderError(error, request, reply));
  app.setNotFoundHandler((request, reply) =>
    renderError(new NotFound('No resource matches this request.'), request, reply),
  );
  // Whatever a route did, a 403 never carries the signature challenge headers.
  app.addHook('onSend', async (_request, reply, payload) => {
    if (reply.statusCode === 403) for (const name of SIGNATURE_CHALLENGE_HEADERS) reply.removeHeader(name);
    return payload;
  });
}
