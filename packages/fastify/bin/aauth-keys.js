#!/usr/bin/env node
// aauth-keys — generates a server's signing-key JWKS file (SIGNING_KEYS, the PS's AGENT_SIGNING_KEYS).
//
//   aauth-keys [--alg Ed25519|ES256] [--status active|next|retired] [--kid KID] [--out FILE]
//
// Prints a one-key JWKS with private members and the key ring's `status` (default Ed25519, active).
// With --out it writes FILE (mode 0600, atomically) unless FILE already holds something: an existing
// key ring is never overwritten (exit 0, "kept" on stderr), so a start-up job can run it every time.
// Rotation (next → active → retired): infra/README.md, *Key rotation*.
//
// The generator is `runGenerateSigningKeys` (src/server/generate-signing-keys.ts, over
// `generateSigningKeysJwks`): the built one (dist/) when the package is built, as in the server
// images; in the workspace, the TypeScript source when a TypeScript loader is active
// (`node --conditions=source --import tsx …`).
import { existsSync } from 'node:fs';
import { chmod, link, open, readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';

const USAGE = `usage: aauth-keys [--alg Ed25519|ES256] [--status active|next|retired] [--kid KID] [--out FILE]

Generates a signing-key JWKS (private members, "status") for SIGNING_KEYS or AGENT_SIGNING_KEYS.
Without --out it is printed; --out FILE writes it with mode 0600 unless FILE exists and is not empty.`;

async function loadGenerator() {
  const built = new URL('../dist/server/generate-signing-keys.js', import.meta.url);
  if (existsSync(built)) return (await import(built.href)).runGenerateSigningKeys;
  try {
    return (await import('../src/server/generate-signing-keys.ts')).runGenerateSigningKeys;
  } catch (err) {
    if (err?.code !== 'ERR_UNKNOWN_FILE_EXTENSION') throw err;
    throw new Error(
      '@aauth-ref/fastify is not built: run `pnpm --filter @aauth-ref/fastify build`, or run this ' +
        'file with `node --conditions=source --import tsx`',
    );
  }
}

async function isEmptyOrMissing(path) {
  try {
    return (await readFile(path, 'utf8')).trim() === '';
  } catch (err) {
    if (err?.code === 'ENOENT') return true;
    throw err;
  }
}

/** Writes a new file next to `path` and links it into place: never replaces a file that appeared meanwhile. */
async function writeOnce(path, text) {
  const temporary = join(dirname(path), `.${process.pid}.${Date.now()}.aauth-keys.tmp`);
  const handle = await open(temporary, 'wx', 0o600);
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await chmod(temporary, 0o600);
  try {
    await rm(path, { force: true }); // only reached for an empty file (checked before)
    await link(temporary, path);
  } finally {
    await rm(temporary, { force: true });
  }
}

async function main(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      alg: { type: 'string' },
      status: { type: 'string' },
      kid: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const runGenerateSigningKeys = await loadGenerator();
  const args = [];
  for (const name of ['alg', 'status', 'kid']) {
    if (values[name] !== undefined) args.push(`--${name}`, values[name]);
  }
  if (values.out === undefined) {
    process.stdout.write(runGenerateSigningKeys(args));
    return 0;
  }
  if (!(await isEmptyOrMissing(values.out))) {
    process.stderr.write(`aauth-keys: kept ${values.out} (it already holds a key ring)\n`);
    return 0;
  }
  await writeOnce(values.out, runGenerateSigningKeys(args));
  process.stderr.write(`aauth-keys: generated ${values.out}\n`);
  return 0;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`aauth-keys: ${err instanceof Error ? err.message : String(err)}\n${USAGE}\n`);
  process.exitCode = 2;
}
