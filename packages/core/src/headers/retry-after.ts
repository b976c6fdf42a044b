import type { Clock } from '../clock.js';
import { InvalidRequest } from '../errors.js';
import type { HeaderFieldValue } from './accept-signature.js';

/**
 * `Retry-After` (RFC 9110 §10.2.3; §Deferred Responses): we send delay-seconds; we read
 * delay-seconds or an HTTP-date (all three formats of RFC 9110 §5.6.7) relative to an injected
 * `Clock`. Malformed values throw `InvalidRequest` (the codecs' style, see `signature-error.ts`); an
 * agent that catches it falls back to the spec's default 5-second interval.
 */

/** `Retry-After: N`. Throws `RangeError` for a value that is not a non-negative integer. */
export function serializeRetryAfter(seconds: number): string {
  if (!Number.isSafeInteger(seconds) || seconds < 0) throw new RangeError(`invalid Retry-After ${seconds}`);
  return String(seconds);
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const DAY = '(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)';
const DAY_LONG = '(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)';
const MONTH = `(${MONTHS.join('|')})`;
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';
/** IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`. */
const IMF = new RegExp(`^${DAY}, (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`);
/** Obsolete RFC 850: `Sunday, 06-Nov-94 08:49:37 GMT`. */
const RFC850 = new RegExp(`^${DAY_LONG}, (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`);
/** Obsolete asctime: `Sun Nov  6 08:49:37 1994`. */
const ASCTIME = new RegExp(`^${DAY} ${MONTH} ([ \\d]\\d) ${TIME} (\\d{4})$`);

function toEpochMs(
  year: number,
  month: string,
  day: number,
  h: number,
  m: number,
  s: number,
): number | undefined {
  const mon = MONTHS.indexOf(month);
  if (day < 1 || day > 31 || h > 23 || m > 59 || s > 60) return undefined;
  const ms = Date.UTC(year, mon, day, h, m, Math.min(s, 59));
  // Reject dates that roll over (31 Feb).
  return new Date(ms).getUTCDate() === day ? ms : undefined;
}

/** Milliseconds since the epoch of an HTTP-date, or `undefined` when it is not one. */
function parseHttpDate(value: string, clock: Clock): number | undefined {
  let m = IMF.exec(value);
  if (m) return toEpochMs(Number(m[3]), m[2]!, Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6]));
  m = RFC850.exec(value);
  if (m) {
    // RFC 9110 §5.6.7: a two-digit year more than 50 years in the future is in the past century.
    const nowYear = new Date(clock.now()).getUTCFullYear();
    let year = Math.floor(nowYear / 100) * 100 + Number(m[3]);
    if (year > nowYear + 50) year -= 100;
    else if (year < nowYear - 50) year += 100;
    return toEpochMs(year, m[2]!, Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6]));
  }
  m = ASCTIME.exec(value);
  if (m)
    return toEpochMs(Number(m[6]), m[1]!, Number(m[2]!.trim()), Number(m[3]), Number(m[4]), Number(m[5]));
  return undefined;
}

/**
 * Seconds to wait before the next request: the delay-seconds as sent, or the whole seconds from
 * `clock` until the HTTP-date (0 when it is past). `undefined` when absent; throws `InvalidRequest`
 * when malformed or repeated.
 */
export function parseRetryAfter(value: HeaderFieldValue, clock: Clock): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') {
    if (value.length === 0) return undefined;
    if (value.length > 1) throw new InvalidRequest('more than one Retry-After field');
    value = value[0]!;
  }
  const trimmed = value.replace(/^[ \t]+|[ \t]+$/g, '');
  if (/^[0-9]+$/.test(trimmed)) {
    // RFC 9110 §1.2.1: a delta-seconds too large to represent is read as 2^31.
    return Math.min(Number(trimmed), 2 ** 31);
  }
  const at = parseHttpDate(trimmed, clock);
  if (at === undefined) throw new InvalidRequest('Retry-After is neither delay-seconds nor an HTTP-date');
  return Math.max(0, Math.ceil((at - clock.now()) / 1000));
}
