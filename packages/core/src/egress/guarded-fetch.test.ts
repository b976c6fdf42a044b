import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { type AddressInfo, connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DiscoveryError } from '../discovery/types.js';
import { createEgressPolicy } from './address-policy.js';
import type { HostResolver } from './admission.js';
import { createGuardedFetch, type EgressConnector } from './guarded-fetch.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

let server: Server;
let port: number;
let handler: Handler = (_req, res) => res.end();
const sockets = new Set<Socket>();

beforeAll(async () => {
  server = createServer((req, res) => handler(req, res));
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => server.close(resolve));
});

/** Dials the loopback test server whatever address it is asked for, and records that address. */
function loopbackConnector(): EgressConnector & ReturnType<typeof vi.fn> {
  return vi.fn<EgressConnector>((options, callback) => {
    const socket = netConnect({ host: '127.0.0.1', port });
    socket.once('connect', () => callback(null, socket));
    socket.once('error', (error) => callback(error, null));
    void options;
  });
}

const PUBLIC = '93.184.216.34';
const resolve: HostResolver = vi.fn(async (host: string) => {
  if (host === 'internal.example') return [{ address: '10.0.0.5', family: 4 }];
  if (host === 'localhost') return [{ address: '127.0.0.1', family: 4 }];
  return [{ address: PUBLIC, family: 4 }];
});
const strict = createEgressPolicy();

async function failure(promise: Promise<unknown>): Promise<DiscoveryError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DiscoveryError);
  return error as DiscoveryError;
}

describe('createGuardedFetch', () => {
  it('connects to the admitted address, sends Host as the name, returns the body', async () => {
    handler = (req, res) => {
      res.setHeader('content-type', 'application/json');
      res.setHeader('cache-control', 'max-age=60');
      res.end(JSON.stringify({ host: req.headers.host, accept: req.headers.accept, path: req.url }));
    };
    const connect = loopbackConnector();
    const fetch = createGuardedFetch({ policy: strict, resolve, connect });
    const response = await fetch('https://agent.example/.well-known/aauth-agent.json');
    expect(response.status).toBe(200);
    expect(response.headers['cache-control']).toBe('max-age=60');
    expect(JSON.parse(response.body.toString())).toEqual({
      host: 'agent.example',
      accept: 'application/json',
      path: '/.well-known/aauth-agent.json',
    });
    expect(response.url).toBe('https://agent.example/.well-known/aauth-agent.json');
    expect(connect).toHaveBeenCalledTimes(1);
    expect(connect.mock.calls[0]?.[0]).toMatchObject({
      hostname: PUBLIC,
      host: 'agent.example',
      protocol: 'https:',
    });
  });

  it('refuses http in strict mode without connecting (egress)', async () => {
    const connect = loopbackConnector();
    const fetch = createGuardedFetch({ policy: strict, resolve, connect });
    expect((await failure(fetch('http://agent.example/jwks'))).reason).toBe('egress');
    expect((await failure(fetch(`http://127.0.0.1:${port}/`))).reason).toBe('egress');
    expect(connect).not.toHaveBeenCalled();
  });

  it('refuses a name resolving to a private address without connecting', async () => {
    const connect = loopbackConnector();
    const fetch = createGuardedFetch({ policy: strict, resolve, connect });
    expect((await failure(fetch('https://internal.example/jwks'))).reason).toBe('egress');
    expect(connect).not.toHaveBeenCalled();
  });

  it('returns a non-2xx status as is', async () => {
    handler = (_req, res) => {
      res.statusCode = 404;
      res.end('nope');
    };
    const fetch = createGuardedFetch({ policy: strict, resolve, connect: loopbackConnector() });
    const response = await fetch('https://agent.example/missing');
    expect(response.status).toBe(404);
    expect(response.body.toString()).toBe('nope');
  });

  it('sends a POST with its headers and body, and never follows a redirect for it', async () => {
    let received: { method?: string; type?: string; body: string } = { body: '' };
    handler = (req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      req.on('end', () => {
        received = { method: req.method, type: req.headers['content-type'], body };
        res.statusCode = 307;
        res.setHeader('location', '/elsewhere');
        res.end();
      });
    };
    const connect = loopbackConnector();
    const fetch = createGuardedFetch({ policy: strict, resolve, connect });
    const response = await fetch('https://agent.example/revoke', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: Buffer.from('{"iss":"https://ps.example","jti":"j1"}'),
    });
    expect(response.status).toBe(307);
    expect(received).toEqual({
      method: 'POST',
      type: 'application/json',
      body: '{"iss":"https://ps.example","jti":"j1"}',
    });
    expect(connect).toHaveBeenCalledTimes(1);
  });

  it('follows a redirect on the same host, admitting it again', async () => {
    handler = (req, res) => {
      if (req.url === '/a') {
        res.statusCode = 302;
        res.setHeader('location', '/b');
        res.end();
        return;
      }
      res.end(`at ${req.url}`);
    };
    const resolver = vi.fn<HostResolver>(async () => [{ address: PUBLIC, family: 4 }]);
    const connect = loopbackConnector();
    const fetch = createGuardedFetch({ policy: strict, resolve: resolver, connect });
    const response = await fetch('https://agent.example/a');
    expect(response.status).toBe(200);
    expect(response.body.toString()).toBe('at /b');
    expect(response.url).toBe('https://agent.example/b');
    expect(resolver).toHaveBeenCalledTimes(2);
    expect(connect).toHaveBeenCalledTimes(2);
  });

  // Signature-Key §7.3: "at minimum, do not follow redirects to a different host".
  it('refuses a redirect to another host', async () => {
    handler = (_req, res) => {
      res.statusCode = 301;
      res.setHeader('location', 'https://other.example/jwks');
      res.end();
    };
    const connect = loopbackConnector();
    const fetch = createGuardedFetch({ policy: strict, resolve, connect });
    expect((await failure(fetch('https://agent.example/jwks'))).reason).toBe('egress');
    expect(connect).toHaveBeenCalledTimes(1);
  });

  it('refuses a same-host redirect that downgrades to http', async () => {
    handler = (_req, res) => {
      res.statusCode = 307;
      res.setHeader('location', 'http://agent.example/jwks');
      res.end();
    };
    const fetch = createGuardedFetch({ policy: strict, resolve, connect: loopbackConnector() });
    expect((await failure(fetch('https://agent.example/jwks'))).reason).toBe('egress');
  });

  it('stops after the redirect limit', async () => {
    handler = (req, res) => {
      res.statusCode = 302;
      res.setHeader('location', `${req.url}x`);
      res.end();
    };
    const connect = loopbackConnector();
    const fetch = createGuardedFetch({ policy: strict, resolve, connect, maxRedirects: 2 });
    const error = await failure(fetch('https://agent.example/r'));
    expect(error.reason).toBe('network');
    expect(connect).toHaveBeenCalledTimes(3);
  });

  it('aborts a streamed body over the size limit', async () => {
    let written = 0;
    handler = (_req, res) => {
      // No content-length: the limit must be enforced while streaming.
      const chunk = Buffer.alloc(1024, 0x61);
      const timer = setInterval(() => {
        if (res.destroyed || written > 1024 * 1024) {
          clearInterval(timer);
          res.end();
          return;
        }
        written += chunk.length;
        res.write(chunk);
      }, 1);
    };
    const fetch = createGuardedFetch({ policy: strict, resolve, connect: loopbackConnector() });
    const error = await failure(fetch('https://agent.example/big', { maxBytes: 4096 }));
    expect(error.reason).toBe('network');
    expect(error.message).toContain('4096');
    expect(written).toBeLessThan(1024 * 1024);
  });

  it('refuses a declared content-length over the limit', async () => {
    handler = (_req, res) => {
      res.setHeader('content-length', String(300 * 1024));
      res.write(Buffer.alloc(10));
    };
    const fetch = createGuardedFetch({ policy: strict, resolve, connect: loopbackConnector() });
    const error = await failure(fetch('https://agent.example/huge'));
    expect(error.reason).toBe('network');
    expect(error.message).toContain(String(256 * 1024));
  });

  it('gives up on a hanging server at the time limit', async () => {
    handler = () => undefined;
    const fetch = createGuardedFetch({
      policy: strict,
      resolve,
      connect: loopbackConnector(),
      timeoutMs: 150,
    });
    const started = Date.now();
    const error = await failure(fetch('https://agent.example/hang'));
    expect(error.reason).toBe('network');
    expect(error.message).toContain('150 ms');
    expect(error.cause).toBeDefined();
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('bounds a hanging resolver by the same time limit', async () => {
    const fetch = createGuardedFetch({
      policy: strict,
      resolve: () => new Promise(() => undefined),
      connect: loopbackConnector(),
      timeoutMs: 100,
    });
    expect((await failure(fetch('https://agent.example/'))).reason).toBe('network');
  });

  it('a connect failure is a network error with the library error as cause', async () => {
    const connect = vi.fn<EgressConnector>((_options, callback) => callback(new Error('ECONNREFUSED'), null));
    const fetch = createGuardedFetch({ policy: strict, resolve, connect });
    const error = await failure(fetch('https://agent.example/'));
    expect(error.reason).toBe('network');
    expect(error.cause).toBeInstanceOf(Error);
  });

  it('development mode reaches a real loopback http server', async () => {
    handler = (req, res) => res.end(`dev ${req.headers.host}`);
    const fetch = createGuardedFetch({ policy: createEgressPolicy({ devMode: true }), resolve });
    expect((await fetch(`http://127.0.0.1:${port}/`)).body.toString()).toBe(`dev 127.0.0.1:${port}`);
    expect((await fetch(`http://localhost:${port}/`)).body.toString()).toBe(`dev localhost:${port}`);
  });
});

// A real TLS handshake: the socket dials 127.0.0.1, while SNI and the certificate check use the name.
describe('createGuardedFetch over TLS', () => {
  let tlsServer: ReturnType<typeof createHttpsServer>;
  let tlsPort: number;
  let cert: string;
  let key: Buffer;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aauth-egress-'));
    execFileSync(
      'openssl',
      [
        ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2'],
        ...['-subj', '/CN=jwks.test', '-addext', 'subjectAltName=DNS:jwks.test'],
        ...['-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')],
      ],
      { stdio: 'ignore' },
    );
    cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
    key = readFileSync(join(dir, 'key.pem'));
    tlsServer = createHttpsServer({ key, cert }, (req, res) => {
      const socket = req.socket as import('node:tls').TLSSocket;
      res.end(
        JSON.stringify({
          sni: (socket as unknown as { servername: string }).servername,
          host: req.headers.host,
        }),
      );
    });
    await new Promise<void>((resolve) => tlsServer.listen(0, '127.0.0.1', resolve));
    tlsPort = (tlsServer.address() as AddressInfo).port;
  });

  afterAll(async () => {
    tlsServer.closeAllConnections();
    await new Promise((resolve) => tlsServer.close(resolve));
  });

  const tlsResolve: HostResolver = async () => [{ address: '127.0.0.1', family: 4 }];

  it('pins 127.0.0.1 for an allowlisted name and verifies the certificate for that name', async () => {
    const fetch = createGuardedFetch({
      policy: createEgressPolicy({ allow: 'jwks.test' }),
      resolve: tlsResolve,
      ca: cert,
    });
    const response = await fetch(`https://jwks.test:${tlsPort}/jwks.json`);
    expect(JSON.parse(response.body.toString())).toEqual({ sni: 'jwks.test', host: `jwks.test:${tlsPort}` });
  });

  it('fails the handshake for an untrusted certificate (network)', async () => {
    const fetch = createGuardedFetch({
      policy: createEgressPolicy({ allow: 'jwks.test' }),
      resolve: tlsResolve,
    });
    expect((await failure(fetch(`https://jwks.test:${tlsPort}/jwks.json`))).reason).toBe('network');
  });

  it('fails when the certificate does not name the host (network)', async () => {
    const fetch = createGuardedFetch({
      policy: createEgressPolicy({ allow: 'other.test' }),
      resolve: tlsResolve,
      ca: cert,
    });
    expect((await failure(fetch(`https://other.test:${tlsPort}/jwks.json`))).reason).toBe('network');
  });

  // §TLS Requirements: "All HTTPS connections MUST use TLS 1.2 or later".
  it.each([
    ['TLSv1.1', false],
    ['TLSv1.2', true],
  ] as const)('a server whose highest version is %s is reached: %s', async (maxVersion, reached) => {
    const server = createHttpsServer(
      { key, cert, maxVersion, minVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' },
      (_req, res) => res.end('ok'),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const policy = createEgressPolicy({ allow: 'jwks.test' });
      const fetch = createGuardedFetch({ policy, resolve: tlsResolve, ca: cert });
      const url = `https://jwks.test:${(server.address() as AddressInfo).port}/`;
      if (reached) expect((await fetch(url)).body.toString()).toBe('ok');
      else expect((await failure(fetch(url))).reason).toBe('network');
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
