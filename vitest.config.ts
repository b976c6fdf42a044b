import { defineConfig } from 'vitest/config';

// One runner for the whole workspace: each package is a project, so `pnpm test` prints one summary.
export default defineConfig({
  resolve: { conditions: ['source'] },
  test: {
    projects: ['packages/*', 'apps/*'],
    reporters: ['default', './tools/summary-reporter.ts'],
  },
});
