import { randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from 'node:crypto';

/**
 * Password hashing with scrypt from `node:crypto` (no native dependency). Stored form, PHC-style:
 * `$scrypt$ln=15,r=8,p=1$<salt>$<hash>` (base64url, 16-byte salt, 32-byte hash), so parameters can
 * be raised later and old hashes still verify (`needsRehash` tells when to re-hash at sign-in).
 */

export interface ScryptParams {
  /** log2 of N, the CPU/memory cost. */
  readonly ln: number;
  readonly r: number;
  readonly p: number;
}

/**
 * N = 2^15, r = 8, p = 1: 32 MiB and tens of milliseconds per hash. Stronger settings (OWASP lists
 * N = 2^17) cost 128 MiB per concurrent sign-in; raise `ln` where memory allows — `needsRehash` then
 * upgrades stored hashes as people sign in.
 */
export const DEFAULT_SCRYPT_PARAMS: ScryptParams = Object.freeze({ ln: 15, r: 8, p: 1 });

const SALT_BYTES = 16;
const HASH_BYTES = 32;
/** Refuse stored strings that would make verification a denial of service. */
const MAX_LN = 20;
const STORED =
  /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9_-]{16,64})\$([A-Za-z0-9_-]{32,128})$/;

function derive(password: string, salt: Buffer, params: ScryptParams, length: number): Promise<Buffer> {
  const N = 2 ** params.ln;
  const options: ScryptOptions = { N, r: params.r, p: params.p, maxmem: 256 * N * params.r + 1024 * 1024 };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, length, options, (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}

export async function hashPassword(
  password: string,
  params: ScryptParams = DEFAULT_SCRYPT_PARAMS,
): Promise<string> {
  if (params.ln < 1 || params.ln > MAX_LN) throw new RangeError('scrypt ln out of range');
  const salt = randomBytes(SALT_BYTES);
  const hash = await derive(password, salt, params, HASH_BYTES);
  return `$scrypt$ln=${params.ln},r=${params.r},p=${params.p}$${salt.toString('base64url')}$${hash.toString('base64url')}`;
}

interface ParsedHash {
  readonly params: ScryptParams;
  readonly salt: Buffer;
  readonly hash: Buffer;
}

function parseStored(stored: string): ParsedHash | undefined {
  const m = STORED.exec(stored);
  if (!m) return undefined;
  const params = { ln: Number(m[1]), r: Number(m[2]), p: Number(m[3]) };
  if (params.ln < 1 || params.ln > MAX_LN || params.r < 1 || params.p < 1) return undefined;
  return { params, salt: Buffer.from(m[4]!, 'base64url'), hash: Buffer.from(m[5]!, 'base64url') };
}

/** A hash of a password nobody has, verified when the account does not exist so timing does not tell. */
let dummy: Promise<string> | undefined;

/**
 * True when `password` matches `stored`. With `stored` undefined (unknown account) or malformed, the
 * same work is done against a dummy hash and the answer is false, so response time does not reveal
 * whether an account exists.
 */
export async function verifyPassword(password: string, stored: string | undefined): Promise<boolean> {
  const parsed = stored === undefined ? undefined : parseStored(stored);
  if (!parsed) {
    dummy ??= hashPassword(randomBytes(16).toString('base64url'));
    const fallback = parseStored(await dummy)!;
    await derive(password, fallback.salt, fallback.params, fallback.hash.length);
    return false;
  }
  const candidate = await derive(password, parsed.salt, parsed.params, parsed.hash.length);
  return timingSafeEqual(candidate, parsed.hash);
}

/** True when `stored` was made with weaker parameters than `params` (re-hash after a good sign-in). */
export function needsRehash(stored: string, params: ScryptParams = DEFAULT_SCRYPT_PARAMS): boolean {
  const parsed = parseStored(stored);
  if (!parsed) return true;
  return parsed.params.ln < params.ln || parsed.params.r < params.r || parsed.params.p < params.p;
}
