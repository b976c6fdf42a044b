#!/usr/bin/env node
// `prisma generate` that works offline: generation never runs Prisma's schema engine, but the CLI
// insists on locating one and downloads it when PRISMA_SCHEMA_ENGINE_BINARY is unset — which fails on
// machines that reach only the npm registry (ENVIRONMENT.md). Point it at an executable that exists
// (this Node binary) unless the caller chose one. Arguments are passed through to `prisma generate`.
import { spawnSync } from 'node:child_process';

const env = { ...process.env };
env.PRISMA_SCHEMA_ENGINE_BINARY ||= process.execPath;
const result = spawnSync('prisma', ['generate', ...process.argv.slice(2)], {
  stdio: 'inherit',
  env,
  shell: process.platform === 'win32',
});
process.exit(result.status ?? 1);
