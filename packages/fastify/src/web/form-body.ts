import { InvalidRequest } from '@aauth-ref/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';

/**
 * `application/x-www-form-urlencoded` bodies for the person-facing forms. It lives beside the
 * byte-keeping parsers `aauthPlugin` installs (`body-parser.ts`): registered after the plugin it is
 * the more specific match for this media type, and it keeps `request.rawBody` the same way.
 */

const FORM_MEDIA_TYPE = 'application/x-www-form-urlencoded';
export const FORM_BODY_LIMIT = 64 * 1024;
const MAX_FIELDS = 256;

/** A parsed form: a null-prototype record; a repeated name (checkboxes) becomes an array. */
export type FormBody = Readonly<Record<string, string | readonly string[]>>;

export function parseFormBody(bytes: Buffer): FormBody {
  const params = new URLSearchParams(bytes.toString('utf8'));
  const out: Record<string, string | string[]> = Object.create(null);
  let count = 0;
  for (const [name, value] of params) {
    if (++count > MAX_FIELDS) throw new InvalidRequest('The form has too many fields.');
    // `%00` decodes to NUL, which PostgreSQL text cannot hold: bad input, not a 500 at the store.
    if (name.includes('\0') || value.includes('\0')) {
      throw new InvalidRequest('The form contains a NUL character.');
    }
    const previous = out[name];
    if (previous === undefined) out[name] = value;
    else if (Array.isArray(previous)) previous.push(value);
    else out[name] = [previous, value];
  }
  return out;
}

/** One value of a form field; a repeated field is refused (`undefined`) where one value is expected. */
export function formString(body: unknown, name: string): string | undefined {
  if (typeof body !== 'object' || body === null || !Object.hasOwn(body, name)) return undefined;
  const value = (body as Record<string, unknown>)[name];
  return typeof value === 'string' ? value : undefined;
}

/** Every value of a (possibly repeated) field, e.g. a group of checkboxes. */
export function formStrings(body: unknown, name: string): readonly string[] {
  if (typeof body !== 'object' || body === null || !Object.hasOwn(body, name)) return [];
  const value = (body as Record<string, unknown>)[name];
  if (typeof value === 'string') return [value];
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/** Registers the form parser on `app` (after `aauthPlugin`, which replaces all parsers). */
export function registerFormBodyParser(app: FastifyInstance, bodyLimit = FORM_BODY_LIMIT): void {
  if (app.hasContentTypeParser(FORM_MEDIA_TYPE)) app.removeContentTypeParser(FORM_MEDIA_TYPE);
  app.addContentTypeParser(
    FORM_MEDIA_TYPE,
    { parseAs: 'buffer', bodyLimit },
    (request: FastifyRequest, body: Buffer | string, done: (err: Error | null, body?: unknown) => void) => {
      const bytes = typeof body === 'string' ? Buffer.from(body) : body;
      request.rawBody = bytes;
      try {
        done(null, parseFormBody(bytes));
      } catch (err) {
        done(err as Error);
      }
    },
  );
}
