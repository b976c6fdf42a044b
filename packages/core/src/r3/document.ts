import { createHash, timingSafeEqual } from 'node:crypto';
import { R3Error } from './errors.js';
import type { R3Display, R3Document, R3Operation, R3Operations } from './types.js';
import { r3OperationKey, r3OperationProblem } from './vocabulary.js';

/**
 * R3 values on the wire: `r3_operations`/`r3_granted`/`r3_per_call` objects and R3 documents
 * (§Authorization Endpoint Extensions, §R3 Document, §Content Addressing, §Per-Call Proposals).
 * The document's bytes are its identity: nothing here re-serializes a received document.
 */

const UTF8 = new TextEncoder();
const FATAL_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** 43 base64url characters whose last one carries no stray bits: the shape of a SHA-256 `s256`. */
const S256 = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;

/** A value shaped like an unpadded base64url SHA-256 (`r3_s256`, a digest parameter's `s256`). */
export function isR3S256(value: unknown): value is string {
  return typeof value === 'string' && S256.test(value);
}

function toBytes(value: Uint8Array | string): Uint8Array {
  return typeof value === 'string' ? UTF8.encode(value) : value;
}

/** `r3_s256` of the exact bytes as served (§Content Addressing); a string is taken as its UTF-8 bytes. */
export function computeR3S256(bytes: Uint8Array | string): string {
  return createHash('sha256').update(toBytes(bytes)).digest('base64url');
}

/** Constant-time comparison of two `s256` values. */
export function sameS256(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export interface ParseR3OperationsOptions {
  /** Vocabularies acceptable here (e.g. the resource's `r3_vocabularies` keys). Any URI when unset. */
  readonly vocabularies?: readonly string[];
  /** An empty `operations` array is acceptable (an `r3_granted` the AS narrowed to nothing). Default false. */
  readonly allowEmpty?: boolean;
  /** Name used in error details (`r3_operations`, `r3_granted`, …). */
  readonly member?: string;
}

function checkVocabulary(
  vocabulary: unknown,
  member: string,
  allowed: readonly string[] | undefined,
): string {
  if (typeof vocabulary !== 'string' || vocabulary.length === 0) {
    throw new R3Error('malformed', `${member}.vocabulary must be a non-empty string`);
  }
  if (allowed !== undefined && !allowed.includes(vocabulary)) {
    throw new R3Error('vocabulary', `${member}.vocabulary ${vocabulary} is not supported here`);
  }
  return vocabulary;
}

function checkOperations(
  vocabulary: string,
  operations: unknown,
  member: string,
  allowEmpty: boolean,
): readonly R3Operation[] {
  if (!Array.isArray(operations)) throw new R3Error('malformed', `${member}.operations must be an array`);
  if (operations.length === 0 && !allowEmpty) throw new R3Error('malformed', `${member}.operations is empty`);
  const seen = new Set<string>();
  for (const op of operations) {
    const problem = r3OperationProblem(vocabulary, op);
    if (problem !== undefined) throw new R3Error('malformed', `${member}: ${problem}`);
    const key = r3OperationKey(vocabulary, op as R3Operation);
    if (seen.has(key)) throw new R3Error('malformed', `${member}.operations names an operation twice`);
    seen.add(key);
  }
  return operations as R3Operation[];
}

/**
 * Validates an `r3_operations` request member, or an `r3_granted`/`r3_per_call` claim (same shape,
 * §Auth Token Extensions). Structure only: whether each operation exists is the resource's check
 * against its authoritative definition (`findUnknownR3Operations`). Throws `R3Error`.
 */
export function parseR3Operations(value: unknown, options: ParseR3OperationsOptions = {}): R3Operations {
  const member = options.member ?? 'r3_operations';
  if (!isRecord(value)) throw new R3Error('malformed', `${member} must be a JSON object`);
  const vocabulary = checkVocabulary(value.vocabulary, member, options.vocabularies);
  const operations = checkOperations(vocabulary, value.operations, member, options.allowEmpty ?? false);
  return { vocabulary, operations };
}

const DISPLAY_STRINGS = ['implications', 'data_accessed', 'irreversible', 'detail'] as const;

function checkDisplay(display: unknown): R3Display {
  if (!isRecord(display)) throw new R3Error('malformed', 'display must be a JSON object');
  if (typeof display.summary !== 'string' || display.summary.length === 0) {
    throw new R3Error('malformed', 'display.summary is required when display is present');
  }
  for (const name of DISPLAY_STRINGS) {
    if (display[name] !== undefined && typeof display[name] !== 'string') {
      throw new R3Error('malformed', `display.${name} must be a string`);
    }
  }
  return display as unknown as R3Display;
}

function checkParameters(parameters: unknown): Record<string, unknown> {
  if (!isRecord(parameters)) throw new R3Error('malformed', 'parameters must be a JSON object');
  for (const [name, value] of Object.entries(parameters)) {
    if (isRecord(value) && 's256' in value && !isR3DigestParameter(value)) {
      throw new R3Error('malformed', `parameters.${name} is a malformed digest object`);
    }
  }
  return parameters;
}

/**
 * Whether a parameter value is a digest object (§Proposal Document): `s256` shaped like a SHA-256,
 * optional string `excerpt` and `media_type`, nothing else. An inline object value that happens to
 * carry other members is an inline value.
 */
export function isR3DigestParameter(
  value: unknown,
): value is { s256: string; excerpt?: string; media_type?: string } {
  if (!isRecord(value) || !isR3S256(value.s256)) return false;
  for (const [name, member] of Object.entries(value)) {
    if (name === 's256') continue;
    if ((name !== 'excerpt' && name !== 'media_type') || typeof member !== 'string') return false;
  }
  return true;
}

export interface ParseR3DocumentOptions {
  /** Vocabularies acceptable here. Any URI when unset. */
  readonly vocabularies?: readonly string[];
  /** Require a per-call proposal: exactly one operation and `parameters` (§Proposal Document). */
  readonly proposal?: boolean;
}

/** Validates a parsed R3 document value. Throws `R3Error`. */
export function checkR3Document(value: unknown, options: ParseR3DocumentOptions = {}): R3Document {
  if (!isRecord(value)) throw new R3Error('not_json', 'an R3 document is a JSON object');
  const vocabulary = checkVocabulary(value.vocabulary, 'R3 document', options.vocabularies);
  const operations = checkOperations(vocabulary, value.operations, 'R3 document', false);
  if (value.account !== undefined && typeof value.account !== 'string') {
    throw new R3Error('malformed', 'account must be a string');
  }
  if (value.display !== undefined) checkDisplay(value.display);
  if (value.parameters !== undefined) checkParameters(value.parameters);
  if (options.proposal === true) {
    if (operations.length !== 1)
      throw new R3Error('malformed', 'a per-call proposal names exactly one operation');
    if (value.parameters === undefined)
      throw new R3Error('malformed', 'a per-call proposal requires parameters');
  }
  return value as R3Document;
}

/** Whether a (valid) document is a per-call proposal: one operation and `parameters`. */
export function isR3Proposal(document: R3Document): boolean {
  return document.parameters !== undefined && document.operations.length === 1;
}

export interface VerifiedR3Document {
  readonly document: R3Document;
  /** The exact bytes received or served: the document's identity. */
  readonly bytes: Uint8Array;
  readonly s256: string;
}

/** Parses the exact bytes of an R3 document (UTF-8 JSON object) and validates it. Throws `R3Error`. */
export function parseR3Document(
  bytes: Uint8Array | string,
  options: ParseR3DocumentOptions = {},
): VerifiedR3Document {
  const raw = toBytes(bytes);
  let value: unknown;
  try {
    value = JSON.parse(FATAL_UTF8.decode(raw));
  } catch (cause) {
    throw new R3Error('not_json', 'the R3 document is not UTF-8 JSON', { cause });
  }
  return { document: checkR3Document(value, options), bytes: raw, s256: computeR3S256(raw) };
}

/**
 * §Hash Verification / §R3 Processing: hashes the bytes received and compares with `r3_s256` before
 * anything else reads them, then parses. Throws `R3Error` (`hash_mismatch` first).
 */
export function verifyR3Document(
  bytes: Uint8Array | string,
  expectedS256: string,
  options: ParseR3DocumentOptions = {},
): VerifiedR3Document {
  const raw = toBytes(bytes);
  const s256 = computeR3S256(raw);
  if (!sameS256(s256, expectedS256))
    throw new R3Error('hash_mismatch', 'the R3 document does not match r3_s256');
  return parseR3Document(raw, options);
}

/**
 * Serializes a document once (§Content Addressing: "serialize the R3 document once and serve those
 * exact bytes verbatim"). Persist `bytes` and serve them; never re-serialize. Throws `R3Error` on an
 * invalid document (a programming error of the resource).
 */
export function encodeR3Document(
  document: R3Document,
  options: ParseR3DocumentOptions = {},
): VerifiedR3Document {
  checkR3Document(document, options);
  const bytes = UTF8.encode(JSON.stringify(document));
  return { document, bytes, s256: computeR3S256(bytes) };
}
