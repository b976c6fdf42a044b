import { DWK } from '@aauth-ref/core';
import { createStubR3Resource, type StubR3Resource } from '@aauth-ref/testkit';
import { ISSUER, type TestApp } from './app-harness.js';

/**
 * A stub resource at `origin` serving R3 documents only to this PS: requests signed with `jwks_uri`
 * under `aauth-person.json` by the test app's own keys (R3 §R3 Document Access Restriction).
 */
export function createPsR3Resource(t: TestApp, origin: string): StubR3Resource {
  return createStubR3Resource({
    origin,
    clock: t.clock,
    entitled: () => ({
      issuer: ISSUER,
      dwk: DWK.person,
      keys: t.psKeys.published,
      metadata: { issuer: ISSUER },
    }),
  });
}
