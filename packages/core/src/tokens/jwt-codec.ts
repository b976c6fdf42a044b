import type { JwtHeader } from './claims.js';
import { TokenVerificationError } from './token-error.js';

/**
 * Compact JWS (RFC 7515 §7.1) encoding and decoding, without any cryptography. Kept apart from
 * jose so a verification costs one JSON parse per part and exactly one signature check.
 */

/** Upper bound on a compact JWT we are willing to look at; AAuth tokens are well under 2 KiB. */
export const MAX_JWT_LENGTH = 16 * 1024;

const B64URL = /^[A-Za-z0-9_-]+$/;

export interface DecodedJws {
  readonly raw: string;
  readonly header: JwtHeader;
  readonly payload: Record<string, unknown>;
  /** `b64(header).b64(payload)` exactly as received — the bytes the signature covers. */
  readonly signingInput: string;
  readonly signature: Buffer;
}

function malformed(message: string, cause?: unknown): TokenVerificationError {
  return new TokenVerificationError('malformed', message, cause === undefined ? undefined : { cause });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Decodes one base64url segment, refusing padding, foreign characters and non-canonical trailing
 * bits (so two different strings never decode to the same bytes — a flipped spare bit is not a
 * second valid encoding of a signature).
 */
function decodeSegment(segment: string, what: string): Buffer {
  if (!B64URL.test(segment) || segment.length % 4 === 1) throw malformed(`JWT ${what} is not base64url`);
  const bytes = Buffer.from(segment, 'base64url');
  if (bytes.toString('base64url') !== segment) throw malformed(`JWT ${what} is not canonical base64url`);
  return bytes;
}

function parseJsonObject(segment: string, what: string): Record<string, unknown> {
  const text = decodeSegment(segment, what).toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw malformed(`JWT ${what} is not JSON`, cause);
  }
  if (!isRecord(value)) throw malformed(`JWT ${what} is not a JSON object`);
  return value;
}

/** Splits and decodes a compact JWS. Throws `TokenVerificationError` (`malformed`) on anything else. */
export function decodeCompactJws(jwt: unknown): DecodedJws {
  if (typeof jwt !== 'string' || jwt.length === 0) throw malformed('JWT is not a string');
  if (jwt.length > MAX_JWT_LENGTH) throw malformed('JWT is too large');
  const first = jwt.indexOf('.');
  const second = first < 0 ? -1 : jwt.indexOf('.', first + 1);
  if (first <= 0 || second < 0 || jwt.indexOf('.', second + 1) >= 0) {
    throw malformed('JWT is not in compact serialization (three parts)');
  }
  const headerPart = jwt.slice(0, first);
  const payloadPart = jwt.slice(first + 1, second);
  const signaturePart = jwt.slice(second + 1);
  if (payloadPart.length === 0 || signaturePart.length === 0) throw malformed('JWT has an empty part');
  const header = parseJsonObject(headerPart, 'header');
  if (typeof header.alg !== 'string') throw malformed('JWT header has no alg');
  if (typeof header.typ !== 'string') throw malformed('JWT header has no typ');
  // RFC 7515 §4.1.11: we understand no header extension, so any `crit` makes the JWS unusable.
  if ('crit' in header) throw malformed('JWT header carries crit');
  const payload = parseJsonObject(payloadPart, 'payload');
  const signature = decodeSegment(signaturePart, 'signature');
  return {
    raw: jwt,
    header: header as JwtHeader,
    payload,
    signingInput: jwt.slice(0, second),
    signature,
  };
}

/** Header and payload of a JWT, signature not checked. Throws `TokenVerificationError` (`malformed`). */
export function decodeJwtUnverified(jwt: unknown): { header: JwtHeader; payload: Record<string, unknown> } {
  const { header, payload } = decodeCompactJws(jwt);
  return { header, payload };
}

function encodeJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

/** `b64(header).b64(payload)`: the JWS signing input. */
export function encodeSigningInput(header: JwtHeader, payload: Record<string, unknown>): string {
  return `${encodeJson(header)}.${encodeJson(payload)}`;
}

/** Appends a signature to a signing input. */
export function serializeCompactJws(signingInput: string, signature: Uint8Array): string {
  return `${signingInput}.${Buffer.from(signature).toString('base64url')}`;
}
