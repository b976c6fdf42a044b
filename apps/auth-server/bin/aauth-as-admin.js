#!/usr/bin/env node
// aauth-as-admin — operator commands of the Access Server (accounts, PS bindings, issued tokens, policy); see
// `aauth-as-admin --help` and infra/README.md, *Operator commands*.
//
// Runs the built CLI (dist/) in images; in the workspace, where nothing is built, the TypeScript
// source through tsx with the `source` export condition (so @aauth-ref/* resolve to their source).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const built = new URL('../dist/admin/run.js', import.meta.url);
if (existsSync(built)) {
  await import(built.href);
} else {
  const entry = new URL('../src/admin/run.ts', import.meta.url);
  const result = spawnSync(
    process.execPath,
    ['--conditions=source', '--import', import.meta.resolve('tsx'), entry.pathname, ...process.argv.slice(2)],
    { stdio: 'inherit' },
  );
  process.exitCode = result.status ?? 1;
}
