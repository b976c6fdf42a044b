import { defineProject } from 'vitest/config';

export default defineProject({
  resolve: { conditions: ['source'] },
  // Vite applies `resolve.conditions` to the client only; tests run in the SSR (node) environment.
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    name: 'e2e',
    include: ['test/**/*.test.ts'],
    // Real servers, real sockets and a real browser: slower than unit tests, bounded per file.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // eventsource-parser (used by the MCP SDK client) exports TypeScript under `source`: Vite transforms both.
    server: { deps: { inline: ['@modelcontextprotocol/sdk', 'eventsource-parser'] } },
  },
});
