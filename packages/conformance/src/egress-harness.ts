import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, connect as netConnect, type Socket } from 'node:net';
import type { EgressConnector, HostResolver } from '@aauth-ref/core';

/** What `serveIssuer` needs of a `TestIssuer`. */
export interface TestIssuerLike {
  readonly issuer: string;
  readonly dwk: string;
  readonly jwksUri: string;
  readonly metadata: Readonly<Record<string, unknown>>;
  jwks(): unknown;
}

/**
 * One loopback HTTP server standing in for every remote origin the servers may fetch from, dialled
 * through an injected egress connector (the admitted address is recorded, the socket always goes to
 * 127.0.0.1), and a name → address table as the DNS. With these, a test proves not only that a fetch
 * was refused but that no connection was attempted: `dials` stays empty.
 */

export type OriginHandler = (req: IncomingMessage, res: ServerResponse) => void;

export interface LoopbackOrigins {
  /** Addresses the connector was asked to dial, in order (the admitted, pinned address). */
  readonly dials: string[];
  /** `Host` + path of every request the loopback server received. */
  readonly requests: string[];
  readonly connect: EgressConnector;
  readonly resolve: HostResolver;
  /** Answers for `host + path` (e.g. `agent.example/.well-known/aauth-agent.json`); else `fallback`. */
  route(hostAndPath: string, handler: OriginHandler): void;
  /** Serves `issuer`'s metadata document and JWKS at their URLs (with `Cache-Control: max-age`). */
  serveIssuer(issuer: TestIssuerLike, maxAgeSeconds?: number): void;
  /** Names the injected resolver answers; any other name has no address. */
  readonly dns: Map<string, readonly string[]>;
  reset(): void;
  close(): Promise<void>;
}

export function json(body: unknown, headers: Record<string, string> = {}): OriginHandler {
  return (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };
}

export async function startLoopbackOrigins(): Promise<LoopbackOrigins> {
  const routes = new Map<string, OriginHandler>();
  const dials: string[] = [];
  const requests: string[] = [];
  const sockets = new Set<Socket>();
  const dns = new Map<string, readonly string[]>();
  const server: Server = createServer((req, res) => {
    const key = `${req.headers.host}${req.url}`;
    requests.push(key);
    const handler = routes.get(key);
    if (handler) return handler(req, res);
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end('{}');
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const port = (server.address() as AddressInfo).port;

  const connect: EgressConnector = (options, callback) => {
    dials.push(String(options.hostname));
    const socket = netConnect({ host: '127.0.0.1', port });
    socket.once('connect', () => callback(null, socket));
    socket.once('error', (error) => callback(error, null));
  };
  const resolve: HostResolver = async (hostname) => {
    const addresses = dns.get(hostname.toLowerCase());
    if (!addresses) throw Object.assign(new Error(`ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };

  return {
    dials,
    requests,
    connect,
    resolve,
    dns,
    route: (hostAndPath, handler) => routes.set(hostAndPath, handler),
    serveIssuer(issuer, maxAgeSeconds = 300) {
      const cache = { 'cache-control': `max-age=${maxAgeSeconds}` };
      const base = new URL(issuer.issuer);
      routes.set(`${base.host}/.well-known/${issuer.dwk}`, json(issuer.metadata, cache));
      const jwks = new URL(issuer.jwksUri);
      routes.set(`${jwks.host}${jwks.pathname}`, json(issuer.jwks(), cache));
    },
    reset() {
      dials.length = 0;
      requests.length = 0;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((done) => server.close(done));
    },
  };
}
