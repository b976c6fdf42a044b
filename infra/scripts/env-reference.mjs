#!/usr/bin/env node
// Regenerates the environment reference in infra/README.md from each server's own `--help` output:
// the fenced block after each `<!-- env-reference:<server> -->` marker is replaced. Run from anywhere
// after `pnpm install`: node infra/scripts/env-reference.mjs
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const readmePath = `${root}infra/README.md`;
let readme = readFileSync(readmePath, 'utf8');

for (const server of ['person-server', 'auth-server', 'resource-server']) {
  const result = spawnSync(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', 'src/main.ts', '--help'],
    { cwd: `${root}apps/${server}`, encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } },
  );
  if (result.status !== 0) {
    process.stderr.write(`${server} --help failed:\n${result.stderr}`);
    process.exit(1);
  }
  const marker = `<!-- env-reference:${server} -->`;
  const at = readme.indexOf(marker);
  if (at < 0) {
    process.stderr.write(`infra/README.md has no ${marker}\n`);
    process.exit(1);
  }
  const open = readme.indexOf('```text\n', at);
  const close = readme.indexOf('\n```', open + 7);
  readme = `${readme.slice(0, open)}\`\`\`text\n${result.stdout.replace(/\n$/, '')}${readme.slice(close)}`;
}
writeFileSync(readmePath, readme);
process.stdout.write('infra/README.md: environment reference updated\n');
