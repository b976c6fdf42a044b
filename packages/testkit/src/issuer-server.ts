import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Clock, DWK, type Dwk, type KeyPair, type PublicJwk, systemClock } from '@aauth-ref/core';
import { createTestIssuer, type TestIssuer } from './test-issuer.js';

/**
 * A self-hosted issuer on a loopback port (`node:http`, port 0): serves `/.well-known/{dwk}` and its
 * JWKS so core's real HTTP key resolver (development mode, loopback egress) can verify what it
 * mints. The identifier is `http://127.0.0.1:<port>`, valid only under the development identifier
 * policy.
 */

export type MetadataFactory = Record<string, unknown> | ((issuer: string) => Record<string, unknown>);

export interface TestIssuerServerOptions {
  readonly dwk: Dwk;
  /** Extra metadata members; a function receives the issuer (its port is known only after listen). */
  readonly metadata?: MetadataFactory;
  readonly keys?: readonly KeyPair[];
  /** Loopback address to listen on (default `127.0.0.1`). */
  readonly host?: '127.0.0.1' | 'localhost';
}

export interface TestIssuerServer extends TestIssuer {
  /** `http://127.0.0.1:<port>` — equal to `issuer`. */
  readonly url: string;
  /** Number of requests served per path (to assert caching). */
  readonly hits: ReadonlyMap<string, number>;
  /** Publishes another key set (rotation tests); the first key signs from now on. */
  setKeys(keys: readonly KeyPair[]): void;
  /** Serves this document at `/.well-known/{dwk}` instead of the generated one (issuer_missing/mismatch tests). */
  setMetadata(document: Record<string, unknown> | undefined): void;
  close(): Promise<void>;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const bytes = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': bytes.length });
  res.end(bytes);
}

export async function startTestIssuerServer(options: TestIssuerServerOptions): Promise<TestIssuerServer> {
  const hits = new Map<string, number>();
  let current: TestIssuer | undefined;
  let metadataOverride: Record<string, unknown> | undefined;
  const wellKnownPath = `/.well-known/${options.dwk}`;

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0]!;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    if (!current || (req.method !== 'GET' && req.method !== 'HEAD'))
      return sendJson(res, 404, { error: 'not_found' });
    if (path === wellKnownPath) return sendJson(res, 200, metadataOverride ?? current.metadata);
    if (path === new URL(current.jwksUri).pathname) return sendJson(res, 200, current.jwks());
    sendJson(res, 404, { error: 'not_found' });
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const issuer = `http://${host}:${port}`;
  const extra = typeof options.metadata === 'function' ? options.metadata(issuer) : options.metadata;
  const build = (keys?: readonly KeyPair[]) =>
    createTestIssuer({ dwk: options.dwk, issuer, keys, metadata: extra });
  current = build(options.keys);
  const active = () => current!;

  return {
    url: issuer,
    issuer,
    dwk: options.dwk,
    hits,
    get keys() {
      return active().keys;
    },
    get signingKey() {
      return active().signingKey;
    },
    get jwksUri() {
      return active().jwksUri;
    },
    get metadata() {
      return active().metadata;
    },
    jwks: () => active().jwks(),
    issue: (kind, claims, issueOptions) => active().issue(kind, claims, issueOptions),
    setKeys(keys) {
      current = build(keys);
    },
    setMetadata(document) {
      metadataOverride = document;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

export interface MintAgentTokenOptions {
  /** The agent identifier (default `aauth:agent@127.0.0.1:<port>`). */
  readonly sub?: string;
  /** The agent's key (anything with a public `jwk`, e.g. a `KeyPair`). */
  readonly cnf: { readonly jwk: PublicJwk };
  readonly ps?: string;
  readonly parent_agent?: string;
  readonly lifetimeSeconds?: number;
  readonly clock?: Clock;
  /** Extra or overriding claims. */
  readonly claims?: Record<string, unknown>;
}

export interface TestAgentProvider extends TestIssuerServer {
  mintAgentToken(options: MintAgentTokenOptions): string;
}

/** A test Agent Provider (`aauth-agent.json`) on a loopback port. */
export async function startTestAgentProvider(
  options: {
    readonly host?: '127.0.0.1' | 'localhost';
    readonly keys?: readonly KeyPair[];
    readonly metadata?: MetadataFactory;
  } = {},
): Promise<TestAgentProvider> {
  const server = await startTestIssuerServer({ dwk: DWK.agent, ...options });
  const domain = new URL(server.issuer).host;
  return Object.assign(server, {
    mintAgentToken(mint: MintAgentTokenOptions): string {
      const claims: Record<string, unknown> = {
        sub: mint.sub ?? `aauth:agent@${domain}`,
        cnf: { jwk: mint.cnf.jwk },
      };
      if (mint.ps !== undefined) claims.ps = mint.ps;
      if (mint.parent_agent !== undefined) claims.parent_agent = mint.parent_agent;
      return server.issue('agent', { ...claims, ...mint.claims } as never, {
        clock: mint.clock ?? systemClock,
        lifetimeSeconds: mint.lifetimeSeconds,
      });
    },
  });
}
