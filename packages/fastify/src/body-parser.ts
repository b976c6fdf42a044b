import { InvalidRequest } from '@aauth-ref/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';

/**
 * Body capture: every parser keeps the exact bytes on `request.rawBody`, because `Content-Digest`
 * and the signature are checked over what was received, not over a re-serialization.
 */

/** `application/json` and any `+json` structured suffix (RFC 6839), parameters ignored. */
const JSON_MEDIA_TYPE = /^application\/(?:[\w.!#$&^-]+\+)?json\s*(?:;|$)/i;

/** Only bodies that could carry these keys or a NUL (directly or through a `\u` escape) need the reviver. */
const SUSPICIOUS = /__proto__|constructor|\\u/;

export const DEFAULT_BODY_LIMIT = 1024 * 1024;

function rejectPollution(this: unknown, key: string, value: unknown): unknown {
  if (key === '__proto__') throw new InvalidRequest('The JSON body contains a forbidden member name.');
  // `\u0000` decodes to NUL, which PostgreSQL text and jsonb cannot hold: refused here, as bad input,
  // rather than failing the store later as a 500 (raw control characters are already invalid JSON).
  if (key.includes('\0') || (typeof value === 'string' && value.includes('\0'))) {
    throw new InvalidRequest('The JSON body contains a NUL character.');
  }
  if (
    key === 'constructor' &&
    typeof value === 'object' &&
    value !== null &&
    Object.hasOwn(value as object, 'prototype')
  ) {
    throw new InvalidRequest('The JSON body contains a forbidden member name.');
  }
  return value;
}

/**
 * Parses a JSON body. Refuses `__proto__` members and `constructor.prototype` (the prototype
 * pollution shapes secure-json-parse refuses) with `invalid_request`. Duplicate member names keep
 * the last value (ECMAScript `JSON.parse`); the signature covers the bytes, so the signer vouched
 * for exactly this text (docs/spec-decisions.md, *Fastify layer*).
 */
export function parseJsonBody(bytes: Buffer): unknown {
  const text = bytes.toString('utf8');
  if (text.trim().length === 0) throw new InvalidRequest('The request body is empty.');
  try {
    return SUSPICIOUS.test(text) ? JSON.parse(text, rejectPollution) : JSON.parse(text);
  } catch (err) {
    if (err instanceof InvalidRequest) throw err;
    throw new InvalidRequest('The request body is not valid JSON.', { cause: err });
  }
}

/** Replaces Fastify's parsers with byte-keeping ones: JSON parsed safely, anything else kept as a Buffer. */
export function registerBodyParsers(app: FastifyInstance, bodyLimit: number): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    JSON_MEDIA_TYPE,
    { parseAs: 'buffer', bodyLimit },
    (request: FastifyRequest, body: Buffer | string, done: (err: Error | null, body?: unknown) => void) => {
      const bytes = typeof body === 'string' ? Buffer.from(body) : body;
      request.rawBody = bytes;
      try {
        done(null, parseJsonBody(bytes));
      } catch (err) {
        done(err as Error);
      }
    },
  );
  app.addContentTypeParser(
    '*',
    { parseAs: 'buffer', bodyLimit },
    (request: FastifyRequest, body: Buffer | string, done: (err: Error | null, body?: unknown) => void) => {
      const bytes = typeof body === 'string' ? Buffer.from(body) : body;
      request.rawBody = bytes;
      done(null, bytes);
    },
  );
}
