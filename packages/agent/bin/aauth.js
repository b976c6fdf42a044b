#!/usr/bin/env node
// Runs the built CLI (dist/) when the package is built; in the workspace, where nothing is built,
// the TypeScript source through tsx with the `source` export condition (so @aauth-ref/core resolves
// to its source too).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const built = new URL('../dist/cli/main.js', import.meta.url);
if (existsSync(built)) {
  const { runCli } = await import(built.href);
  process.exitCode = await runCli(process.argv.slice(2));
} else {
  const entry = new URL('../src/cli/run.ts', import.meta.url);
  const result = spawnSync(
    process.execPath,
    ['--conditions=source', '--import', import.meta.resolve('tsx'), entry.pathname, ...process.argv.slice(2)],
    { stdio: 'inherit' },
  );
  process.exitCode = result.status ?? 1;
}
