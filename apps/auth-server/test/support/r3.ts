import { DWK, R3_VOCABULARY } from '@aauth-ref/core';
import { createStubR3Resource, type StubR3Resource } from '@aauth-ref/testkit';
import { buildAccessServerMetadata } from '../../src/metadata.js';
import { AS_ISSUER, RESOURCE, type TestApp } from './app-harness.js';
import { TEST_POLICY } from './policy.js';

export const MCP = R3_VOCABULARY.mcp;

/** `TEST_POLICY` with R3 operation rules for the resource: one per outcome. */
export const R3_TEST_POLICY = {
  ...TEST_POLICY,
  resources: {
    [RESOURCE]: {
      ...TEST_POLICY.resources[RESOURCE]!,
      r3: {
        fallback: 'omit' as const,
        operations: [
          { match: { tool: 'list_notes' }, effect: 'grant' as const },
          { vocabulary: MCP, match: { tool: 'delete_note' }, effect: 'per-call' as const },
          { match: { tool: 'drop_all' }, effect: 'deny' as const },
        ],
      },
    },
  },
};

/** The resource as a stub that serves R3 documents only to requests signed by this AS (`jwks_uri`). */
export function createStubR3ResourceFor(t: TestApp): StubR3Resource {
  return createStubR3Resource({
    origin: RESOURCE,
    clock: t.clock,
    entitled: () => ({
      issuer: AS_ISSUER,
      dwk: DWK.access,
      keys: t.keys.published,
      metadata: buildAccessServerMetadata(AS_ISSUER),
    }),
  });
}
