import { randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Interaction codes (§Interaction Code Format): Crockford base32, at least 8 symbols (40 bits) from
 * a CSPRNG, optional presentational hyphens; compared after stripping hyphens, folding case and the
 * decode aliases `I`/`L` → `1`, `O` → `0`. A code is a correlation identifier, never a credential —
 * single use and rate limiting are the store's job.
 */

export const CROCKFORD_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** The spec's floor: 8 symbols × 5 bits = 40 bits of entropy. */
export const MIN_INTERACTION_CODE_SYMBOLS = 8;

/** Longer input is refused before any work: no real code is this long and the input is the user's. */
const MAX_INPUT_LENGTH = 128;

export interface InteractionCodeOptions {
  /** Number of symbols (default 8, at least 8). */
  readonly symbols?: number;
  /** Insert a hyphen every this many symbols (default 4; 0 for none). */
  readonly groupSize?: number;
}

/** Generates a code such as `A1B2-C3D4`. Throws `RangeError` for fewer than 8 symbols. */
export function generateInteractionCode(options: InteractionCodeOptions = {}): string {
  const symbols = options.symbols ?? MIN_INTERACTION_CODE_SYMBOLS;
  const groupSize = options.groupSize ?? 4;
  if (!Number.isInteger(symbols) || symbols < MIN_INTERACTION_CODE_SYMBOLS || symbols > 64) {
    throw new RangeError(`an interaction code needs 8 to 64 symbols, not ${symbols}`);
  }
  if (!Number.isInteger(groupSize) || groupSize < 0) throw new RangeError(`invalid group size ${groupSize}`);
  // 256 is a multiple of 32, so the low five bits of a uniform byte are a uniform symbol: no bias.
  const bytes = randomBytes(symbols);
  let code = '';
  for (let i = 0; i < symbols; i++) {
    if (groupSize > 0 && i > 0 && i % groupSize === 0) code += '-';
    code += CROCKFORD_ALPHABET[bytes[i]! & 31];
  }
  return code;
}

/** ASCII code point → canonical symbol, covering lowercase and the decode aliases. */
const DECODE: ReadonlyMap<number, string> = (() => {
  const map = new Map<number, string>();
  for (const symbol of CROCKFORD_ALPHABET) {
    map.set(symbol.charCodeAt(0), symbol);
    map.set(symbol.toLowerCase().charCodeAt(0), symbol);
  }
  for (const [alias, symbol] of [
    ['I', '1'],
    ['L', '1'],
    ['O', '0'],
  ] as const) {
    map.set(alias.charCodeAt(0), symbol);
    map.set(alias.toLowerCase().charCodeAt(0), symbol);
  }
  return map;
})();

const HYPHEN = '-'.charCodeAt(0);

/**
 * The comparable value of a code as a person typed it: hyphens stripped, uppercase, `I`/`L` → `1`,
 * `O` → `0`. `undefined` when any other character is outside the alphabet (including `U`,
 * whitespace, and non-ASCII letters whose uppercase is ASCII, such as `ı`), or nothing is left.
 */
export function normalizeInteractionCode(input: string): string | undefined {
  if (typeof input !== 'string' || input.length > MAX_INPUT_LENGTH) return undefined;
  let out = '';
  for (let i = 0; i < input.length; i++) {
    const c = input.charCodeAt(i);
    if (c === HYPHEN) continue;
    const symbol = DECODE.get(c);
    if (symbol === undefined) return undefined;
    out += symbol;
  }
  return out.length === 0 ? undefined : out;
}

const EMITTED = /^[0-9A-HJKMNP-TV-Z-]+$/;

/**
 * Whether a code is in the form a server may emit (§Interaction Code Format: only alphabet symbols
 * and hyphens, uppercase, at least 8 symbols).
 */
export function isInteractionCode(value: unknown): value is string {
  if (typeof value !== 'string' || value.length > MAX_INPUT_LENGTH || !EMITTED.test(value)) return false;
  let symbols = 0;
  for (const c of value) if (c !== '-') symbols++;
  return symbols >= MIN_INTERACTION_CODE_SYMBOLS;
}

/** Compares two codes after normalization in time independent of where they differ. */
export function interactionCodesMatch(a: string, b: string): boolean {
  const na = normalizeInteractionCode(a);
  const nb = normalizeInteractionCode(b);
  if (na === undefined || nb === undefined) return false;
  const ba = Buffer.from(na, 'ascii');
  const bb = Buffer.from(nb, 'ascii');
  if (ba.length !== bb.length) {
    timingSafeEqual(ba, ba);
    return false;
  }
  return timingSafeEqual(ba, bb);
}
