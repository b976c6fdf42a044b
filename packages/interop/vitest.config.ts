import { defineProject } from 'vitest/config';

export default defineProject({
  resolve: { conditions: ['source'] },
  // Vite applies `resolve.conditions` to the client only; tests run in the SSR (node) environment.
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    name: 'interop',
    include: ['test/**/*.test.ts'],
    // Real servers (ours and the peers') on loopback ports: bounded per file.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // eventsource-parser (used by the MCP SDK client) exports TypeScript under `source`: Vite transforms both.
    server: { deps: { inline: ['@modelcontextprotocol/sdk', 'eventsource-parser'] } },
  },
});
