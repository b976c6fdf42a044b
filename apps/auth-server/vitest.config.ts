import { defineProject } from 'vitest/config';

export default defineProject({
  resolve: { conditions: ['source'] },
  // Vite applies `resolve.conditions` to the client only; tests run in the SSR (node) environment.
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    name: 'auth-server',
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // Each file opens its own database (PGlite or PostgreSQL); the first migration takes a moment.
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
