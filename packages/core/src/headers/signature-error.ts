import { type InnerList, type Item, parseDictionary, serializeDictionary, Token } from 'structured-headers';
import { InvalidRequest, type SignatureError, type SignatureErrorCode } from '../errors.js';
import {
  combineFieldLines,
  type HeaderFieldValue,
  isTokenString,
  serializeAcceptSignatureAlg,
  serializeAcceptSignatureScheme,
} from './accept-signature.js';

/**
 * `Signature-Error` (Signature-Key draft §5.1): a Dictionary whose `error` member is a Token, plus
 * per-code members — `required_input`, an Inner List of Strings, for `invalid_input` (§5.4.5).
 *
 * Error style of every header codec in this folder: parsers of fields whose failure the client
 * must act on throw `InvalidRequest` (a typed `AAuthError`, detail safe to show, the
 * structured-headers message kept as `cause`) and never anything else; advisory fields whose absence
 * has a defined meaning (`AAuth-Capabilities`, `Accept-Signature-*`, `Prefer`) follow RFC 8941 §2 —
 * a field that fails to parse is ignored and reads as absent — so their parsers never throw.
 * Serializers are given our own models: an invalid model is a programming error and throws
 * `TypeError`.
 */

/** Parses a Dictionary field; malformed input is `InvalidRequest` naming the field. */
export function parseDictionaryField(value: string, field: string): Map<string, Item | InnerList> {
  try {
    return parseDictionary(value);
  } catch (cause) {
    throw new InvalidRequest(`${field} is not a valid structured field Dictionary`, { cause });
  }
}

/** The parsed `Signature-Error` value; wire member names unchanged. */
export interface SignatureErrorField {
  /** The error code; unregistered codes are kept as sent. */
  readonly error: SignatureErrorCode | (string & {});
  readonly required_input?: readonly string[];
}

const FIELD = 'Signature-Error';

/**
 * Parses `Signature-Error`. Returns `undefined` when the header is absent; throws `InvalidRequest`
 * when it is malformed, lacks the `error` Token, or carries a `required_input` that is not an Inner
 * List of Strings. Unknown members and all parameters are ignored (§5.1: "Recipients MUST ignore
 * unknown members").
 */
export function parseSignatureError(value: HeaderFieldValue): SignatureErrorField | undefined {
  const combined = combineFieldLines(value);
  if (combined === undefined) return undefined;
  const dict = parseDictionaryField(combined, FIELD);
  const error = dict.get('error');
  if (error === undefined || Array.isArray(error[0]) || !(error[0] instanceof Token)) {
    throw new InvalidRequest(`${FIELD} has no error Token`);
  }
  const code = error[0].toString();
  const required = dict.get('required_input');
  if (required === undefined) return { error: code };
  const [items] = required;
  if (!Array.isArray(items) || !items.every(([bare]) => typeof bare === 'string')) {
    throw new InvalidRequest(`${FIELD} required_input is not an Inner List of Strings`);
  }
  return { error: code, required_input: items.map(([bare]) => bare as string) };
}

/** Serializes `Signature-Error`. Throws `TypeError` for a code that is not a Token. */
export function serializeSignatureError(field: SignatureErrorField): string {
  if (!isTokenString(field.error)) throw new TypeError(`Signature-Error code is not a Token: ${field.error}`);
  const members = new Map<string, Item | InnerList>([['error', [new Token(field.error), new Map()]]]);
  if (field.required_input !== undefined) {
    members.set('required_input', [field.required_input.map((c): Item => [c, new Map()]), new Map()]);
  }
  try {
    return serializeDictionary(members);
  } catch (cause) {
    throw new TypeError('Signature-Error required_input holds a value that is not a valid String', { cause });
  }
}

/**
 * The response headers of a signature failure (lowercase names): `signature-error`, plus
 * `accept-signature-scheme` / `accept-signature-alg` when the error names what would have worked
 * (§4.4). The problem+json body comes from `err.toProblem()`.
 */
export function signatureErrorHeaders(err: SignatureError): Record<string, string> {
  const field: SignatureErrorField =
    err.requiredInput === undefined
      ? { error: err.error }
      : { error: err.error, required_input: err.requiredInput };
  const headers: Record<string, string> = { 'signature-error': serializeSignatureError(field) };
  if (err.acceptSchemes !== undefined) {
    headers['accept-signature-scheme'] = serializeAcceptSignatureScheme(err.acceptSchemes);
  }
  if (err.acceptAlgs !== undefined)
    headers['accept-signature-alg'] = serializeAcceptSignatureAlg(err.acceptAlgs);
  return headers;
}
