import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect as netConnect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createEgressPolicy } from '../egress/address-policy.js';
import type { HostResolver } from '../egress/admission.js';
import type { EgressConnector } from '../egress/guarded-fetch.js';
import { generateKeyPair, toPublicJwks } from '../jwk.js';
import { createCompositeKeyResolver } from './composite-key-resolver.js';
import { createHttpKeyResolver } from './http-key-resolver.js';
import { createLocalKeyResolver } from './local-key-resolver.js';
import { DiscoveryError } from './types.js';

const PS = 'https://ps.example';
const psKey = generateKeyPair('Ed25519', 'ps-1');
const apKey = generateKeyPair('Ed25519', 'ap-1');
const remoteKey = generateKeyPair('Ed25519', 'remote-1');

const psMetadata = {
  issuer: PS,
  jwks_uri: `${PS}/.well-known/jwks.json`,
  auth_token_endpoint: `${PS}/token`,
  person_token_endpoint: `${PS}/person`,
};
const apMetadata = { issuer: PS, jwks_uri: `${PS}/.well-known/agent-jwks.json` };

// A loopback server standing in for https://agent.example, reached only through the injected connector.
let server: Server;
let port: number;
beforeAll(async () => {
  server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    if (req.url === '/.well-known/aauth-agent.json') {
      res.end(
        JSON.stringify({ issuer: 'https://agent.example', jwks_uri: 'https://agent.example/jwks.json' }),
      );
    } else if (req.url === '/jwks.json') {
      res.end(JSON.stringify(toPublicJwks([remoteKey])));
    } else {
      res.statusCode = 404;
      res.end('{}');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function network() {
  const connect = vi.fn<EgressConnector>((_options, callback) => {
    const socket = netConnect({ host: '127.0.0.1', port });
    socket.once('connect', () => callback(null, socket));
    socket.once('error', (error) => callback(error, null));
  });
  const resolve = vi.fn<HostResolver>(async () => [{ address: '93.184.216.34', family: 4 }]);
  return { connect, resolve };
}

function localResolver() {
  return createLocalKeyResolver([
    { issuer: PS, dwk: 'aauth-person.json', keys: [psKey], metadata: psMetadata },
    { issuer: PS, dwk: 'aauth-agent.json', keys: [apKey], metadata: apMetadata },
  ]);
}

async function failure(promise: Promise<unknown>): Promise<DiscoveryError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DiscoveryError);
  return error as DiscoveryError;
}

describe('createLocalKeyResolver', () => {
  it('answers keys and metadata per (issuer, dwk)', async () => {
    const local = localResolver();
    expect(await local.resolveKey(PS, 'aauth-person.json', 'ps-1')).toBe(psKey);
    expect(await local.resolveKey(PS, 'aauth-agent.json', 'ap-1')).toBe(apKey);
    expect(await local.metadata(PS, 'aauth-agent.json')).toEqual(apMetadata);
    expect(local.has(PS, 'aauth-person.json')).toBe(true);
    expect(local.has(PS, 'aauth-access.json')).toBe(false);
    expect(local.has('https://other.example', 'aauth-person.json')).toBe(false);
  });

  it('unknown_key for a kid of another role on the same origin, or an unknown kid', async () => {
    const local = localResolver();
    expect((await failure(local.resolveKey(PS, 'aauth-person.json', 'ap-1'))).reason).toBe('unknown_key');
    expect((await failure(local.resolveKey(PS, 'aauth-agent.json', 'nope', { refresh: true }))).reason).toBe(
      'unknown_key',
    );
  });

  it('takes the kid from the JWK when the key has none of its own', async () => {
    const { kid: _kid, privateKey: _p, ...verification } = psKey;
    const local = createLocalKeyResolver([
      { issuer: PS, dwk: 'aauth-person.json', keys: [verification], metadata: psMetadata },
    ]);
    expect((await local.resolveKey(PS, 'aauth-person.json', 'ps-1')).thumbprint).toBe(psKey.thumbprint);
  });

  it('refuses a misconfiguration at construction', () => {
    expect(() =>
      createLocalKeyResolver([
        { issuer: PS, dwk: 'aauth-person.json', keys: [], metadata: { issuer: 'https://x.example' } },
      ]),
    ).toThrow(TypeError);
    expect(() =>
      createLocalKeyResolver([
        { issuer: PS, dwk: 'aauth-person.json', keys: [], metadata: psMetadata },
        { issuer: PS, dwk: 'aauth-person.json', keys: [], metadata: psMetadata },
      ]),
    ).toThrow(TypeError);
    const { kid: _kid, privateKey: _p, ...noKid } = psKey;
    const jwkWithoutKid = { ...noKid, jwk: { ...noKid.jwk, kid: undefined } };
    expect(() =>
      createLocalKeyResolver([
        { issuer: PS, dwk: 'aauth-person.json', keys: [jwkWithoutKid], metadata: psMetadata },
      ]),
    ).toThrow(TypeError);
  });
});

describe('createCompositeKeyResolver', () => {
  it('answers local issuers without any fetch', async () => {
    const { connect, resolve } = network();
    const remote = createHttpKeyResolver({ policy: createEgressPolicy(), resolve, connect });
    const keys = createCompositeKeyResolver(localResolver(), remote);
    expect(await keys.resolveKey(PS, 'aauth-person.json', 'ps-1')).toBe(psKey);
    expect(await keys.resolveKey(PS, 'aauth-agent.json', 'ap-1', { refresh: true })).toBe(apKey);
    expect((await failure(keys.resolveKey(PS, 'aauth-agent.json', 'unknown'))).reason).toBe('unknown_key');
    expect(await keys.metadata(PS, 'aauth-person.json')).toEqual(psMetadata);
    expect(connect).not.toHaveBeenCalled();
    expect(resolve).not.toHaveBeenCalled();
  });

  it('sends everything else to the remote resolver, through egress admission and the pinned connector', async () => {
    const { connect, resolve } = network();
    const remote = createHttpKeyResolver({ policy: createEgressPolicy(), resolve, connect });
    const keys = createCompositeKeyResolver(localResolver(), remote);
    const key = await keys.resolveKey('https://agent.example', 'aauth-agent.json', 'remote-1');
    expect(key.thumbprint).toBe(remoteKey.thumbprint);
    expect(resolve).toHaveBeenCalledWith('agent.example');
    expect(connect).toHaveBeenCalledTimes(2);
    for (const [options] of connect.mock.calls) expect(options.hostname).toBe('93.184.216.34');
    // A role the local resolver does not hold on the local origin goes remote too.
    expect((await failure(keys.metadata(PS, 'aauth-access.json'))).reason).toBe('network');
  });

  it('a remote issuer resolving to a private address is refused before connecting (egress)', async () => {
    const { connect } = network();
    const resolve = vi.fn<HostResolver>(async () => [{ address: '169.254.169.254', family: 4 }]);
    const keys = createCompositeKeyResolver(
      localResolver(),
      createHttpKeyResolver({ policy: createEgressPolicy(), resolve, connect }),
    );
    expect((await failure(keys.resolveKey('https://metadata.example', 'aauth-agent.json', 'k'))).reason).toBe(
      'egress',
    );
    expect(connect).not.toHaveBeenCalled();
  });
});
