import { createHash, timingSafeEqual } from 'node:crypto';
import { type InnerList, type Item, serializeDictionary } from 'structured-headers';
import { InvalidRequest } from './errors.js';
import { combineFieldLines, type HeaderFieldValue } from './headers/accept-signature.js';
import { parseDictionaryField } from './headers/signature-error.js';

/**
 * RFC 9530 `Content-Digest` over the raw body bytes: a Dictionary whose members are Byte Sequences
 * keyed by hash algorithm. We compute and accept `sha-256` and `sha-512` (the two the Hash Algorithms
 * for HTTP Digest Fields registry marks Active); other keys are ignored, as RFC 9530 §2 lets a
 * recipient do. Failures throw `InvalidRequest` (the codecs' style, see `headers/signature-error.ts`):
 * the caller decides whether a missing header is acceptable.
 */

export type DigestAlgorithm = 'sha-256' | 'sha-512';
export const DIGEST_ALGORITHMS: readonly DigestAlgorithm[] = ['sha-256', 'sha-512'];

const NODE_HASH: Readonly<Record<DigestAlgorithm, string>> = { 'sha-256': 'sha256', 'sha-512': 'sha512' };

function digest(algorithm: DigestAlgorithm, body: Uint8Array): Buffer {
  return createHash(NODE_HASH[algorithm]).update(body).digest();
}

/** `Content-Digest` for a body, e.g. `sha-256=:X48E…=:`. */
export function computeContentDigest(
  body: Uint8Array,
  algorithms: readonly DigestAlgorithm[] = ['sha-256'],
): string {
  const members = new Map<string, Item | InnerList>();
  for (const algorithm of algorithms) {
    if (!Object.hasOwn(NODE_HASH, algorithm))
      throw new TypeError(`unsupported digest algorithm ${String(algorithm)}`);
    members.set(algorithm, [digest(algorithm, body), new Map()]);
  }
  if (members.size === 0) throw new TypeError('at least one digest algorithm is required');
  return serializeDictionary(members);
}

/**
 * Checks `Content-Digest` against the exact body bytes and returns the algorithms it verified.
 * Every `sha-256` / `sha-512` member present must match (compared in constant time); members for
 * other algorithms are ignored. Throws `InvalidRequest` when the header is absent or malformed, a
 * member we know is not a Byte Sequence, no member names an algorithm we support, or a digest
 * does not match.
 */
export function verifyContentDigest(value: HeaderFieldValue, body: Uint8Array): DigestAlgorithm[] {
  const combined = combineFieldLines(value);
  if (combined === undefined) throw new InvalidRequest('Content-Digest is missing');
  const dict = parseDictionaryField(combined, 'Content-Digest');
  const verified: DigestAlgorithm[] = [];
  for (const algorithm of DIGEST_ALGORITHMS) {
    const member = dict.get(algorithm);
    if (member === undefined) continue;
    const [bare] = member;
    if (!(bare instanceof ArrayBuffer)) {
      throw new InvalidRequest(`Content-Digest ${algorithm} is not a Byte Sequence`);
    }
    const expected = digest(algorithm, body);
    const received = new Uint8Array(bare);
    if (received.length !== expected.length || !timingSafeEqual(received, expected)) {
      throw new InvalidRequest('Content-Digest does not match the request body');
    }
    verified.push(algorithm);
  }
  if (verified.length === 0)
    throw new InvalidRequest('Content-Digest names no supported algorithm (sha-256, sha-512)');
  return verified;
}
