import { randomBytes } from 'node:crypto';
import { InvalidRequest } from '../errors.js';
import type { HeaderFieldValue } from './accept-signature.js';

/**
 * The session token of §AAuth-Access Response Header: the `AAuth-Access` response value and the
 * credential of `Authorization: AAuth <token68>`. "Recipients MUST reject empty values, values
 * containing embedded whitespace or control characters, and responses carrying more than one
 * credential": every such value throws `InvalidRequest` (the style of every codec here, see
 * `signature-error.ts`). A comma-joined repeat of the field cannot pass, since `,` and SP are not
 * token68 characters.
 */

/** RFC 9110 §11.2: `token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`. */
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/;

export function isToken68(value: unknown): value is string {
  return typeof value === 'string' && TOKEN68.test(value);
}

/** OWS around a field value is not part of it (RFC 9110 §5.5). */
function trimOws(value: string): string {
  return value.replace(/^[ \t]+|[ \t]+$/g, '');
}

function singleFieldLine(value: HeaderFieldValue, field: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string') return value;
  if (value.length === 0) return undefined;
  if (value.length > 1) throw new InvalidRequest(`more than one ${field} field`);
  return value[0];
}

/**
 * Reads the `AAuth-Access` response header: the new session token, or `undefined` when absent.
 * Throws `InvalidRequest` for an empty value, one that is not a single token68, or several fields.
 */
export function parseAAuthAccess(value: HeaderFieldValue): string | undefined {
  const line = singleFieldLine(value, 'AAuth-Access');
  if (line === undefined) return undefined;
  const token = trimOws(line);
  if (!isToken68(token)) throw new InvalidRequest('AAuth-Access is not a single token68 value');
  return token;
}

/** The `AAuth-Access` value for a session token. Throws `TypeError` when it is not token68. */
export function serializeAAuthAccess(token: string): string {
  if (!isToken68(token)) throw new TypeError('a session token must be token68');
  return token;
}

/** auth-scheme (a token) and whatever follows it. */
const CREDENTIALS = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+)(.*)$/s;

/**
 * Reads `Authorization: AAuth <token68>` (the auth-scheme is case-insensitive, RFC 9110 §11.1).
 * Returns `undefined` when there is no `Authorization` field or it names another scheme (a resource
 * may accept `Bearer` beside AAuth). Throws `InvalidRequest` for several `Authorization` fields, an
 * `AAuth` credential that is empty, or one that is not exactly one token68.
 */
export function parseAuthorizationAAuth(value: HeaderFieldValue): string | undefined {
  const line = singleFieldLine(value, 'Authorization');
  if (line === undefined) return undefined;
  const match = CREDENTIALS.exec(trimOws(line));
  if (match === null || match[1]!.toLowerCase() !== 'aauth') return undefined;
  const rest = match[2]!;
  const credential = rest.replace(/^ +/, '');
  if (credential.length === 0) throw new InvalidRequest('Authorization: AAuth carries no session token');
  if (credential === rest || !isToken68(credential))
    throw new InvalidRequest('Authorization: AAuth credential is not a single token68');
  return credential;
}

/** `AAuth <token>` for the `Authorization` field. Throws `TypeError` when the token is not token68. */
export function formatAuthorizationAAuth(token: string): string {
  return `AAuth ${serializeAAuthAccess(token)}`;
}

/**
 * A fresh opaque session token: `bytes` CSPRNG bytes (default 32, at least 16) in base64url, which
 * is token68.
 */
export function generateSessionToken(bytes = 32): string {
  if (!Number.isInteger(bytes) || bytes < 16 || bytes > 1024)
    throw new RangeError(`invalid session token size ${bytes}`);
  return randomBytes(bytes).toString('base64url');
}
