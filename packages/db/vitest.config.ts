import { defineProject } from 'vitest/config';

export default defineProject({
  resolve: { conditions: ['source'] },
  // Vite applies `resolve.conditions` to the client only; tests run in the SSR (node) environment.
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    name: 'db',
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // A cold embedded-PGlite start (initdb, ~2 s alone) runs while other workers compete for 2 cores.
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
