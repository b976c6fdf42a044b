import { combineFieldLines, type HeaderFieldValue } from './accept-signature.js';

/**
 * `Prefer: wait=N` (RFC 7240 §4.3; §Deferred Responses). Only `wait` is read; other preferences
 * are ignored, the first `wait` wins (RFC 7240 §2: "only the first instance is to be considered"),
 * and the value is capped at the caller's maximum. A preference is a hint, so anything that does
 * not parse reads as no preference: the parser never throws (see `signature-error.ts` for the
 * codecs' error style).
 */

/** Splits on `sep` outside quoted-strings (RFC 9110 §5.6.4), honouring backslash escapes. */
function splitOutsideQuotes(input: string, sep: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < input.length; i++) {
    const c = input[i]!;
    if (quoted) {
      current += c;
      if (c === '\\' && i + 1 < input.length) current += input[++i];
      else if (c === '"') quoted = false;
    } else if (c === '"') {
      quoted = true;
      current += c;
    } else if (c === sep) {
      parts.push(current);
      current = '';
    } else {
      current += c;
    }
  }
  parts.push(current);
  return parts;
}

const WAIT = /^wait[ \t]*=[ \t]*(?:([0-9]+)|"([0-9]+)")$/i;
const NAME = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+)/;

/**
 * The `wait` preference in whole seconds, at most `maxSeconds`; `undefined` when the request states
 * none (or states it in a form that does not parse).
 */
export function parsePreferWait(value: HeaderFieldValue, maxSeconds: number): number | undefined {
  if (!Number.isInteger(maxSeconds) || maxSeconds < 0)
    throw new RangeError(`invalid maximum wait ${maxSeconds}`);
  const combined = combineFieldLines(value);
  if (combined === undefined) return undefined;
  for (const preference of splitOutsideQuotes(combined, ',')) {
    const head = (splitOutsideQuotes(preference, ';')[0] ?? '').trim();
    if (NAME.exec(head)?.[1]?.toLowerCase() !== 'wait') continue;
    // The first `wait` decides, even when its value is unusable.
    const match = WAIT.exec(head);
    if (match === null) return undefined;
    const digits = match[1] ?? match[2]!;
    return Math.min(Number(digits), maxSeconds);
  }
  return undefined;
}

/** `wait=N` for the `Prefer` field. Throws `RangeError` for a value that is not a non-negative integer. */
export function serializePreferWait(seconds: number): string {
  if (!Number.isSafeInteger(seconds) || seconds < 0) throw new RangeError(`invalid wait ${seconds}`);
  return `wait=${seconds}`;
}
