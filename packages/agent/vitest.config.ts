import { defineProject } from 'vitest/config';

export default defineProject({
  resolve: { conditions: ['source'] },
  // Vite applies `resolve.conditions` to the client only; tests run in the SSR (node) environment.
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    name: 'agent',
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // eventsource-parser (used by the MCP SDK client) exports TypeScript under `source`: Vite transforms both.
    server: { deps: { inline: ['@modelcontextprotocol/sdk', 'eventsource-parser'] } },
  },
});
