import { createHash, timingSafeEqual } from 'node:crypto';
import { InvalidRequest } from './errors.js';

/**
 * Mission identifiers (§Mission Approval, §Mission Identifier): `s256` is the unpadded base64url
 * SHA-256 of the exact bytes the PS persists as the mission blob, and the `mission` member carries
 * those same bytes, unpadded base64url. Nothing here re-serializes JSON: hashing re-encoded JSON
 * would name a different mission. Malformed members throw `InvalidRequest` (the codecs' style).
 */

const UTF8 = new TextEncoder();

function toBytes(blob: Uint8Array | string): Uint8Array {
  return typeof blob === 'string' ? UTF8.encode(blob) : blob;
}

/** The mission identifier of the exact blob bytes (a string is taken as its UTF-8 bytes). */
export function computeMissionS256(blob: Uint8Array | string): string {
  return createHash('sha256').update(toBytes(blob)).digest('base64url');
}

/** 43 base64url characters whose last one carries no stray bits: the shape of a SHA-256 `s256`. */
const S256 = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;

export function isMissionS256(value: unknown): value is string {
  return typeof value === 'string' && S256.test(value);
}

/** The `mission` member for the exact blob bytes. */
export function encodeMission(blob: Uint8Array | string): string {
  return Buffer.from(toBytes(blob)).toString('base64url');
}

const B64URL = /^[A-Za-z0-9_-]*$/;

/**
 * The exact bytes of a `mission` member. Only canonical unpadded base64url is accepted, so one blob
 * has one encoding. Throws `InvalidRequest`.
 */
export function decodeMission(member: unknown): Uint8Array {
  if (typeof member !== 'string' || member.length === 0 || !B64URL.test(member) || member.length % 4 === 1) {
    throw new InvalidRequest('mission is not unpadded base64url');
  }
  const bytes = Buffer.from(member, 'base64url');
  if (bytes.toString('base64url') !== member) throw new InvalidRequest('mission is not canonical base64url');
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export interface VerifiedMission {
  readonly s256: string;
  /** The blob bytes exactly as the PS persisted them. */
  readonly bytes: Uint8Array;
  /** The blob parsed; members this code does not know are kept and must be ignored by readers. */
  readonly blob: Record<string, unknown>;
}

const FATAL_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Verifies a mission approval's `s256` against its `mission` (§Mission Approval: "An agent SHOULD
 * verify `s256` against the decoded bytes before first use"): decodes the member, checks the bytes
 * are a UTF-8 JSON object, and compares the digest. Throws `InvalidRequest`.
 */
export function verifyMissionApproval(approval: { s256: unknown; mission: unknown }): VerifiedMission {
  const { s256, mission } = approval;
  if (!isMissionS256(s256)) throw new InvalidRequest('s256 is not a SHA-256 base64url digest');
  const bytes = decodeMission(mission);
  let blob: unknown;
  try {
    blob = JSON.parse(FATAL_UTF8.decode(bytes));
  } catch (cause) {
    throw new InvalidRequest('mission is not UTF-8 JSON', { cause });
  }
  if (typeof blob !== 'object' || blob === null || Array.isArray(blob)) {
    throw new InvalidRequest('mission is not a JSON object');
  }
  const expected = Buffer.from(computeMissionS256(bytes), 'ascii');
  if (!timingSafeEqual(expected, Buffer.from(s256, 'ascii'))) {
    throw new InvalidRequest('s256 does not match the mission');
  }
  return { s256, bytes, blob: blob as Record<string, unknown> };
}
