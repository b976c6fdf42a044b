import { describe, expect, it } from 'vitest';
import { packageOf, summariseProfile } from './profile.js';

describe('packageOf', () => {
  it.each([
    [
      'file:///w/node_modules/.pnpm/@prisma+client@7/node_modules/@prisma/client/runtime/client.js',
      'x',
      '@prisma/client',
    ],
    ['file:///w/node_modules/.pnpm/pg@8/node_modules/pg/lib/client.js', 'x', 'pg'],
    ['file:///w/packages/core/src/jwk.ts', 'x', '@aauth-ref/core'],
    ['file:///w/apps/person-server/src/app.ts', 'x', '@aauth-ref/person-server'],
    ['node:events', 'emit', 'node:internal'],
    ['', '(garbage collector)', '(gc)'],
    ['', '(idle)', '(idle)'],
    ['', 'verify', '(native)'],
  ])('%s %s → %s', (url, fn, expected) => {
    expect(packageOf(url, fn)).toBe(expected);
  });
});

describe('summariseProfile', () => {
  it('ranks self time from the samples, per function and per package', () => {
    const frame = (functionName: string, url: string) => ({ functionName, url, lineNumber: 0 });
    const summary = summariseProfile({
      nodes: [
        { id: 1, callFrame: frame('(root)', '') },
        { id: 2, callFrame: frame('verify', '') },
        { id: 3, callFrame: frame('parse', 'file:///w/packages/core/src/a.ts') },
        { id: 4, callFrame: frame('other', 'file:///w/packages/core/src/b.ts') },
      ],
      startTime: 0,
      endTime: 2_000_000,
      samples: [2, 2, 3, 4],
      timeDeltas: [1, 1, 1, 1],
    });
    expect(summary.durationMs).toBe(2_000);
    expect(summary.functions[0]).toEqual({ name: 'verify', share: 0.5 });
    expect(summary.packages).toEqual([
      { name: '(native)', share: 0.5 },
      { name: '@aauth-ref/core', share: 0.5 },
    ]);
  });
});
