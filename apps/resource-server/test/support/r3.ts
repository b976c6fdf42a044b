import type { KeyPair, R3Operations } from '@aauth-ref/core';
import type { TestIssuer } from '@aauth-ref/testkit';
import { ISSUER, send, type TestApp } from './app-harness.js';

export { callTool } from './mcp.js';

export const MCP = 'urn:aauth:vocabulary:mcp';
export const OPENAPI = 'urn:aauth:vocabulary:openapi';

/** A server's `jwks_uri`-signed fetch of `r3_uri` (R3 §R3 Document Access Restriction). */
export function fetchR3(app: TestApp, server: TestIssuer, uri: string, dwk = server.dwk) {
  return send(app, {
    path: new URL(uri).pathname,
    key: server.signingKey as KeyPair,
    signatureKey: { scheme: 'jwks_uri', id: server.issuer, dwk, kid: server.signingKey.kid },
  });
}

export interface R3AuthTokenOptions {
  readonly sub: string;
  readonly r3_uri: string;
  readonly r3_s256: string;
  readonly r3_granted: R3Operations;
  readonly r3_per_call?: R3Operations;
  readonly account?: string;
  readonly jti?: string;
  readonly lifetimeSeconds?: number;
}

/** An auth token from the stub PS carrying R3 claims and no scope (R3 §Auth Token Extensions). */
export function r3AuthToken(t: TestApp, key: KeyPair, options: R3AuthTokenOptions): string {
  const { lifetimeSeconds, ...claims } = options;
  return t.ps.issue('auth', { aud: ISSUER, ps: t.ps.issuer, cnf: { jwk: key.jwk }, ...claims } as never, {
    clock: t.clock,
    lifetimeSeconds: lifetimeSeconds ?? 3600,
  });
}
