import type { InnerList, Item } from 'structured-headers';

/**
 * `Signature-Input` and `Signature` in the one shape every AAuth signer sends — a single label, bare
 * component names, Integer or String parameters, a padded base64 signature — read without the
 * generic Structured Field parser, which costs a tenth of the Ed25519 verification the request pays
 * for (docs/benchmarks.md). Only a canonical subset is accepted: whatever these functions accept, the
 * generic parser reads to the same value, and the member's Inner List text is then exactly its
 * re-serialization (RFC 9421 §2.3 `@signature-params`), so the verifier can use the received bytes.
 * Anything else returns `undefined` and takes the generic path, which also produces every error.
 * The equivalence is property-tested against `structured-headers` (signature-fields.test.ts).
 */

export interface SignatureInputMember {
  readonly label: string;
  readonly input: InnerList;
  /** The member's Inner List as received, which is its canonical serialization. */
  readonly serialized: string;
}

export interface SignatureMember {
  readonly label: string;
  readonly signature: Uint8Array;
}

// RFC 8941 §3.1.2 key; §3.3.3 String without escapes (printable ASCII but `"` and `\`); §3.3.1
// Integer in canonical form (no leading zero, no `-0`, at most 15 digits).
const KEY = '[a-z*][a-z0-9_.*-]*';
const STRING = '"[\\x20\\x21\\x23-\\x5b\\x5d-\\x7e]*"';
const INTEGER = '(?:0|-?[1-9][0-9]{0,14})';
const SIGNATURE_INPUT = new RegExp(
  `^(${KEY})=(\\((?:${STRING}(?: ${STRING})*)?\\)((?:;${KEY}=(?:${INTEGER}|${STRING}))*))$`,
);
const COMPONENT = new RegExp(STRING, 'g');
const PARAMETER = new RegExp(`;(${KEY})=(${INTEGER}|${STRING})`, 'g');
// RFC 8941 §3.3.5 Byte Sequence, padded base64 only (RFC 4648 §4).
const SIGNATURE =
  /^([a-z*][a-z0-9_.*-]*)=:((?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?):$/;

/** One `Signature-Input` member in the canonical common shape, or `undefined` for the generic parser. */
export function parseSignatureInputMember(value: string): SignatureInputMember | undefined {
  const match = SIGNATURE_INPUT.exec(value);
  if (match === null) return undefined;
  const [, label, serialized, parameters] = match as unknown as [string, string, string, string];
  const listEnd = serialized.length - parameters.length;
  const items: Item[] = [];
  for (const component of serialized.slice(0, listEnd).matchAll(COMPONENT)) {
    items.push([component[0].slice(1, -1), new Map()]);
  }
  const params = new Map<string, number | string>();
  for (const [, key, raw] of parameters.matchAll(PARAMETER) as IterableIterator<[string, string, string]>) {
    // A repeated parameter is legal (the last wins) but would not re-serialize to the same text.
    if (params.has(key)) return undefined;
    params.set(key, raw.startsWith('"') ? raw.slice(1, -1) : Number(raw));
  }
  return { label, input: [items, params], serialized };
}

/** One `Signature` member holding a padded base64 Byte Sequence, or `undefined` for the generic parser. */
export function parseSignatureMember(value: string): SignatureMember | undefined {
  const match = SIGNATURE.exec(value);
  if (match === null) return undefined;
  const [, label, base64] = match as unknown as [string, string, string];
  return { label, signature: Buffer.from(base64, 'base64') };
}
