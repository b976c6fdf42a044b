import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import {
  exportPrivateJwk,
  generateKeyPair,
  importPrivateJwk,
  KeyCheckError,
  type KeyPair,
  type PrivateJwk,
  type PublicJwk,
  type SigningAlg,
  toPublicJwks,
} from '@aauth-ref/core';
import { ConfigError } from './config.js';

/**
 * The server's signing key ring, loaded from `SIGNING_KEYS`.
 *
 * `SIGNING_KEYS` is a JWKS (JSON text, or a path to a file holding it) whose keys carry their private
 * member `d`, a fully-specified `alg` (`Ed25519` or `ES256`) and a `kid`. Each key may carry one
 * member that is not part of JWK, `status`, which this loader strips:
 *
 * - `active` — the one key that signs. Exactly one key is active. A key without `status` is active.
 * - `next` — published in the JWKS but not yet signing, so verifiers have it cached before it signs
 *   (publish it for at least the JWKS cache lifetime, then make it `active` and the old one `retired`).
 * - `retired` — no longer signs, still published until every token it signed has expired; then
 *   remove it.
 *
 * In development mode, when `SIGNING_KEYS` is absent, one Ed25519 key is generated and kept in
 * `DATA_DIR/signing-keys.json` (file mode 0600) so tokens survive a restart. Strict mode refuses to
 * start without `SIGNING_KEYS`.
 */

export type SigningKeyStatus = 'active' | 'next' | 'retired';
export const SIGNING_KEY_STATUSES: readonly SigningKeyStatus[] = ['active', 'next', 'retired'];

/** A private JWK as it appears in `SIGNING_KEYS`. */
export interface SigningKeyJwk extends PrivateJwk {
  status?: SigningKeyStatus;
}

export interface KeyRing {
  /** The key that signs. */
  readonly active: KeyPair;
  /** Every key in the JWKS: the active one first, then `next`, then `retired`. */
  readonly published: readonly KeyPair[];
  /** The status of a published key by `kid`. */
  statusOf(kid: string): SigningKeyStatus | undefined;
  /** The public JWKS to serve: public members, `alg` and `kid` only (never `d`, never `status`). */
  jwks(): { keys: PublicJwk[] };
}

export const DEV_KEYS_FILE = 'signing-keys.json';

const STATUS_ORDER: Readonly<Record<SigningKeyStatus, number>> = { active: 0, next: 1, retired: 2 };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Builds a key ring from a parsed JWKS. `source` names where it came from in error messages (never
 * the key material). Throws `ConfigError` listing every problem.
 */
export function createKeyRing(jwks: unknown, source = 'SIGNING_KEYS'): KeyRing {
  const subject = `${source} is not a usable signing JWKS`;
  if (!isRecord(jwks) || !Array.isArray(jwks.keys)) {
    throw new ConfigError(subject, ['expected a JSON object with a "keys" array']);
  }
  if (jwks.keys.length === 0) throw new ConfigError(subject, ['"keys" is empty']);
  const problems: string[] = [];
  const entries: { pair: KeyPair; status: SigningKeyStatus }[] = [];
  const kids = new Set<string>();
  jwks.keys.forEach((key: unknown, index) => {
    const where = `keys[${index}]`;
    if (!isRecord(key)) {
      problems.push(`${where}: not a JSON object`);
      return;
    }
    const { status = 'active', ...jwk } = key;
    if (!SIGNING_KEY_STATUSES.includes(status as SigningKeyStatus)) {
      problems.push(`${where}: status must be one of ${SIGNING_KEY_STATUSES.join(', ')}`);
      return;
    }
    if (typeof jwk.kid !== 'string' || jwk.kid.length === 0) {
      problems.push(`${where}: every signing key needs a "kid"`);
      return;
    }
    if (typeof jwk.d !== 'string') {
      problems.push(`${where} (kid ${jwk.kid}): no private member "d"`);
      return;
    }
    if (kids.has(jwk.kid)) {
      problems.push(`${where}: kid ${jwk.kid} appears twice`);
      return;
    }
    kids.add(jwk.kid);
    try {
      entries.push({ pair: importPrivateJwk(jwk), status: status as SigningKeyStatus });
    } catch (err) {
      // KeyCheckError messages describe the JWK's shape, never its secret.
      const reason = err instanceof KeyCheckError ? err.message : 'not a valid key';
      problems.push(`${where} (kid ${jwk.kid}): ${reason}`);
    }
  });
  const active = entries.filter((e) => e.status === 'active');
  if (problems.length === 0 && active.length !== 1) {
    problems.push(
      active.length === 0
        ? 'no key has status "active" (exactly one key signs)'
        : `${active.length} keys are "active" (kids ${active.map((e) => e.pair.kid).join(', ')}); exactly one key signs`,
    );
  }
  if (problems.length > 0) throw new ConfigError(subject, problems);
  entries.sort((a, b) => STATUS_ORDER[a.status] - STATUS_ORDER[b.status]);
  const statuses = new Map(entries.map((e) => [e.pair.kid, e.status]));
  const published = Object.freeze(entries.map((e) => e.pair));
  const publicJwks = toPublicJwks(published);
  const serialized = JSON.stringify(publicJwks);
  return Object.freeze({
    active: active[0]!.pair,
    published,
    statusOf: (kid: string) => statuses.get(kid),
    // A fresh copy each time: callers may not mutate what every other request serves.
    jwks: () => JSON.parse(serialized) as { keys: PublicJwk[] },
  });
}

/** Parses JWKS text; the JSON parser's message is not repeated (it may quote key material). */
function parseJwksText(text: string, source: string): unknown {
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new ConfigError(`${source} is not a usable signing JWKS`, ['not valid JSON'], { cause });
  }
}

async function readJwksFile(path: string, source: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new ConfigError(`${source} cannot be read`, [`${path}: ${code}`], { cause });
  }
  return parseJwksText(text, source);
}

export interface LoadKeyRingOptions {
  /** The `SIGNING_KEYS` value: JWKS JSON text or a path; `undefined` when absent. */
  readonly SIGNING_KEYS: string | undefined;
  readonly DATA_DIR: string;
  readonly AAUTH_DEV: boolean;
  /** Base for a relative `SIGNING_KEYS` path (default `process.cwd()`). */
  readonly cwd?: string;
  /** Told when a development key is generated, so the start-up log says so. */
  readonly onGenerated?: (path: string) => void;
}

/** Loads the key ring as the configuration says; throws `ConfigError` with a clear message. */
export async function loadKeyRing(options: LoadKeyRingOptions): Promise<KeyRing> {
  const value = options.SIGNING_KEYS?.trim();
  if (value) {
    if (value.startsWith('{')) return createKeyRing(parseJwksText(value, 'SIGNING_KEYS'), 'SIGNING_KEYS');
    const path = isAbsolute(value) ? value : resolve(options.cwd ?? process.cwd(), value);
    return createKeyRing(await readJwksFile(path, `SIGNING_KEYS file ${path}`), `SIGNING_KEYS file ${path}`);
  }
  if (!options.AAUTH_DEV) {
    throw new ConfigError('No signing keys', [
      'SIGNING_KEYS is required in strict mode: a JWKS (or a path to one) with private members; generate one with generateSigningKeysJwks',
    ]);
  }
  return loadOrCreateDevKeys(options.DATA_DIR, options.onGenerated);
}

async function loadOrCreateDevKeys(dataDir: string, onGenerated?: (path: string) => void): Promise<KeyRing> {
  const path = join(dataDir, DEV_KEYS_FILE);
  const source = `dev signing keys ${path}`;
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const text = JSON.stringify(generateSigningKeysJwks(), null, 2);
  try {
    // `wx`: two processes starting at once never overwrite each other's key.
    await writeFile(path, `${text}\n`, { mode: 0o600, flag: 'wx' });
    onGenerated?.(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new ConfigError(
        `Cannot write ${source}`,
        [(err as NodeJS.ErrnoException).code ?? 'write failed'],
        {
          cause: err,
        },
      );
    }
  }
  // The mode given to writeFile is reduced by the umask only, but an older file may be wider.
  await chmod(path, 0o600);
  return createKeyRing(await readJwksFile(path, source), source);
}

export interface GenerateSigningKeysOptions {
  readonly alg?: SigningAlg;
  readonly status?: SigningKeyStatus;
  readonly kid?: string;
}

/**
 * Generates a one-key signing JWKS (private members included) for `SIGNING_KEYS`.
 *
 * Operators: `npx tsx --conditions=source packages/fastify/src/server/generate-signing-keys.ts [--alg Ed25519|ES256]
 * [--status active|next|retired] > signing-keys.json`, then `chmod 600 signing-keys.json` and point
 * `SIGNING_KEYS` at it. To rotate, add a new key with `--status next` to the file's `keys` array,
 * wait at least the JWKS cache lifetime, mark it `active` and the old one `retired`; drop the retired
 * key once the tokens it signed have expired.
 */
export function generateSigningKeysJwks(options: GenerateSigningKeysOptions = {}): { keys: SigningKeyJwk[] } {
  const pair = generateKeyPair(options.alg ?? 'Ed25519', ...(options.kid ? [options.kid] : []));
  return { keys: [{ ...exportPrivateJwk(pair), status: options.status ?? 'active' }] };
}
