import { defineProject } from 'vitest/config';

export default defineProject({
  resolve: { conditions: ['source'] },
  // Vite applies `resolve.conditions` to the client only; tests run in the SSR (node) environment.
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    name: 'conformance',
    include: ['test/**/*.test.ts'],
    // Three servers in-process on databases of their own; each file builds what it needs once.
    testTimeout: 30_000,
    // Up to three PGlite databases per file: generous on a 2-core machine shared with other runs.
    hookTimeout: 180_000,
    // eventsource-parser (used by the MCP SDK client) exports TypeScript under `source`: Vite transforms both.
    server: { deps: { inline: ['@modelcontextprotocol/sdk', 'eventsource-parser'] } },
  },
});
