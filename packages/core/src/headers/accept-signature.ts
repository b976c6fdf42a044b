import { type Item, parseList, serializeList, Token } from 'structured-headers';
import { REGISTERED_SCHEMES, type RegisteredScheme } from '../httpsig/types.js';
import { HTTP_SIG_ALG_NAMES, type SigningAlg, SUPPORTED_ALGS } from '../jwk.js';

/**
 * `Accept-Signature-Scheme` and `Accept-Signature-Alg` (Signature-Key draft §4): Lists of Tokens,
 * advisory. Their parsers never throw: a field that fails to parse is ignored as RFC 8941 §2 says,
 * and tokens the client does not recognise are dropped (§4.1: "A client MUST ignore tokens it does
 * not recognize"). We send JOSE algorithm identifiers and read either vocabulary
 * (docs/spec-decisions.md, *Vocabulary*).
 *
 * This module also holds the small field helpers the other header codecs share.
 */

/** A header value as Node and undici hand it over: absent, one field line, or several. */
export type HeaderFieldValue = string | readonly string[] | undefined;

/** Combines field lines as RFC 9110 §5.3 allows for list-based fields; `undefined` when absent. */
export function combineFieldLines(value: HeaderFieldValue): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string') return value;
  return value.length === 0 ? undefined : value.join(', ');
}

const SF_TOKEN = /^[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*$/;

/** RFC 8941 §3.3.4 sf-token. */
export function isTokenString(value: string): boolean {
  return SF_TOKEN.test(value);
}

/** The Token items of a List field, in order, once each; `[]` when absent or malformed. */
function parseTokenList(value: HeaderFieldValue): string[] {
  const combined = combineFieldLines(value);
  if (combined === undefined) return [];
  let list: ReturnType<typeof parseList>;
  try {
    list = parseList(combined);
  } catch {
    return [];
  }
  const tokens: string[] = [];
  for (const [bare] of list) {
    if (bare instanceof Token && !tokens.includes(bare.toString())) tokens.push(bare.toString());
  }
  return tokens;
}

/** Serializes a List of Tokens, dropping repeats. Throws `TypeError` for a value that is not a Token. */
export function serializeTokenList(values: Iterable<string>, field: string): string {
  const seen = new Set<string>();
  const items: Item[] = [];
  for (const value of values) {
    if (!isTokenString(value)) throw new TypeError(`${field} value is not a Token: ${value}`);
    if (seen.has(value)) continue;
    seen.add(value);
    items.push([new Token(value), new Map()]);
  }
  return serializeList(items);
}

/** `Accept-Signature-Scheme: jwt` — the schemes this route accepts, in preference order. */
export function serializeAcceptSignatureScheme(schemes: readonly string[]): string {
  return serializeTokenList(schemes, 'Accept-Signature-Scheme');
}

const SCHEMES: ReadonlySet<string> = new Set(REGISTERED_SCHEMES);

/** The registered schemes the server listed, in its order; unknown tokens dropped. */
export function parseAcceptSignatureScheme(value: HeaderFieldValue): RegisteredScheme[] {
  return parseTokenList(value).filter((t): t is RegisteredScheme => SCHEMES.has(t));
}

/** `Accept-Signature-Alg: Ed25519, ES256` — JOSE identifiers, the vocabulary of the JWK `alg`. */
export function serializeAcceptSignatureAlg(algs: readonly string[]): string {
  return serializeTokenList(algs, 'Accept-Signature-Alg');
}

/** Both vocabularies of the algorithms we implement: JOSE names and HTTP Signature Algorithms names. */
const ALG_ALIASES: ReadonlyMap<string, SigningAlg> = new Map<string, SigningAlg>([
  ...SUPPORTED_ALGS.map((alg): [string, SigningAlg] => [alg, alg]),
  ...SUPPORTED_ALGS.map((alg): [string, SigningAlg] => [HTTP_SIG_ALG_NAMES[alg], alg]),
]);

/**
 * The algorithms the server listed that we implement, as JOSE identifiers, in its order. Reads
 * `ed25519` / `ecdsa-p256-sha256` as well as `Ed25519` / `ES256`; anything else is dropped.
 */
export function parseAcceptSignatureAlg(value: HeaderFieldValue): SigningAlg[] {
  const algs: SigningAlg[] = [];
  for (const token of parseTokenList(value)) {
    const alg = ALG_ALIASES.get(token);
    if (alg !== undefined && !algs.includes(alg)) algs.push(alg);
  }
  return algs;
}
