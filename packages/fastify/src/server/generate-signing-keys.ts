import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { SigningAlg } from '@aauth-ref/core';
import { generateSigningKeysJwks, SIGNING_KEY_STATUSES, type SigningKeyStatus } from './keys.js';

/**
 * Operator command: prints a one-key signing JWKS for `SIGNING_KEYS` on standard output.
 *
 *     npx tsx --conditions=source packages/fastify/src/server/generate-signing-keys.ts --alg Ed25519 --status active > keys.json
 *     chmod 600 keys.json
 *
 * See `generateSigningKeysJwks` in `keys.ts` for the rotation procedure.
 */
export function runGenerateSigningKeys(argv: readonly string[]): string {
  const alg = flagValue(argv, '--alg') ?? 'Ed25519';
  const status = flagValue(argv, '--status') ?? 'active';
  if (alg !== 'Ed25519' && alg !== 'ES256') throw new TypeError('--alg must be Ed25519 or ES256');
  if (!SIGNING_KEY_STATUSES.includes(status as SigningKeyStatus)) {
    throw new TypeError(`--status must be one of ${SIGNING_KEY_STATUSES.join(', ')}`);
  }
  const kid = flagValue(argv, '--kid');
  return `${JSON.stringify(
    generateSigningKeysJwks({
      alg: alg as SigningAlg,
      status: status as SigningKeyStatus,
      ...(kid ? { kid } : {}),
    }),
    null,
    2,
  )}\n`;
}

function flagValue(argv: readonly string[], flag: string): string | undefined {
  const at = argv.indexOf(flag);
  return at >= 0 ? argv[at + 1] : undefined;
}

function isMain(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  try {
    process.stdout.write(runGenerateSigningKeys(process.argv.slice(2)));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exitCode = 2;
  }
}
