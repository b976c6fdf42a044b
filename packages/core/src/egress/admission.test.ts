import { describe, expect, it, vi } from 'vitest';
import { DiscoveryError } from '../discovery/types.js';
import { createEgressPolicy } from './address-policy.js';
import { admitUrl, type HostResolver, type ResolvedAddress } from './admission.js';

function resolverOf(table: Record<string, readonly string[]>): HostResolver & ReturnType<typeof vi.fn> {
  return vi.fn(async (host: string): Promise<ResolvedAddress[]> => {
    const addresses = table[host];
    if (!addresses) throw Object.assign(new Error(`ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  });
}

async function refusal(promise: Promise<unknown>): Promise<DiscoveryError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DiscoveryError);
  return error as DiscoveryError;
}

const strict = createEgressPolicy();
const dev = createEgressPolicy({ devMode: true });

// Each forbidden class as an IP literal and as a DNS name resolving to it (Signature-Key §7.3).
const FORBIDDEN = [
  '127.0.0.1',
  '10.0.0.1',
  '172.16.5.4',
  '192.168.0.10',
  '100.64.1.1',
  '169.254.169.254',
  '0.0.0.0',
  '224.0.0.251',
  '255.255.255.255',
  '192.0.2.1',
  '198.18.0.1',
  '240.1.2.3',
  '::1',
  '::',
  'fe80::1',
  'fc00::1',
  'fd00::53',
  'ff02::1',
  '::ffff:127.0.0.1',
  '::ffff:10.0.0.1',
  '::ffff:169.254.169.254',
  '64:ff9b::10.0.0.1',
  '2002:a00:1::1',
  '2001:db8::1',
];

describe('admitUrl — address classes', () => {
  it.each(FORBIDDEN)('refuses the IP literal %s', async (address) => {
    const resolve = resolverOf({});
    const host = address.includes(':') ? `[${address}]` : address;
    const error = await refusal(
      admitUrl(`https://${host}/.well-known/aauth-agent.json`, { policy: strict, resolve }),
    );
    expect(error.reason).toBe('egress');
    expect(resolve).not.toHaveBeenCalled();
  });

  it.each(FORBIDDEN)('refuses a DNS name resolving to %s', async (address) => {
    const resolve = resolverOf({ 'evil.example': [address] });
    const error = await refusal(admitUrl('https://evil.example/jwks', { policy: strict, resolve }));
    expect(error.reason).toBe('egress');
    expect(resolve).toHaveBeenCalledWith('evil.example');
  });

  it('refuses a host with one public and one private address', async () => {
    const resolve = resolverOf({ 'mixed.example': ['93.184.216.34', '10.0.0.7'] });
    const error = await refusal(admitUrl('https://mixed.example/', { policy: strict, resolve }));
    expect(error.reason).toBe('egress');
    expect(error.message).toContain('private');
  });

  it('admits a public host and pins the first address', async () => {
    const resolve = resolverOf({ 'agent.example': ['2606:4700::6810:84e5', '93.184.216.34'] });
    const admitted = await admitUrl('https://agent.example/.well-known/aauth-agent.json', {
      policy: strict,
      resolve,
    });
    expect(admitted).toMatchObject({
      hostname: 'agent.example',
      port: 443,
      address: '2606:4700::6810:84e5',
      family: 6,
      admission: 'public',
    });
  });

  it('admits a public IP literal without resolving', async () => {
    const resolve = resolverOf({});
    const admitted = await admitUrl('https://93.184.216.34/x', { policy: strict, resolve });
    expect(admitted.address).toBe('93.184.216.34');
    expect(resolve).not.toHaveBeenCalled();
  });

  it('a DNS failure is a network error, not egress', async () => {
    const error = await refusal(
      admitUrl('https://nowhere.example/', { policy: strict, resolve: resolverOf({}) }),
    );
    expect(error.reason).toBe('network');
    expect(error.cause).toBeInstanceOf(Error);
  });

  it('an empty answer is a network error', async () => {
    const error = await refusal(
      admitUrl('https://empty.example/', { policy: strict, resolve: async () => [] }),
    );
    expect(error.reason).toBe('network');
  });

  it('refuses a resolver answer that is not an IP address', async () => {
    const error = await refusal(
      admitUrl('https://odd.example/', {
        policy: strict,
        resolve: async () => [{ address: 'x', family: 4 }],
      }),
    );
    expect(error.reason).toBe('egress');
  });
});

describe('admitUrl — scheme, userinfo, port', () => {
  const resolve = resolverOf({ 'agent.example': ['93.184.216.34'], localhost: ['127.0.0.1', '::1'] });

  it.each([
    'http://agent.example/',
    'ftp://agent.example/',
    'file:///etc/passwd',
    'data:application/json,{}',
    'not a url',
    'https://user:pw@agent.example/',
    'https://user@agent.example/',
  ])('strict mode refuses %s', async (url) => {
    const error = await refusal(admitUrl(url, { policy: strict, resolve }));
    expect(error.reason).toBe('egress');
  });

  it('strict mode refuses an explicit port towards a public host', async () => {
    const error = await refusal(admitUrl('https://agent.example:8443/', { policy: strict, resolve }));
    expect(error.reason).toBe('egress');
  });

  it('an explicit default port is the default port', async () => {
    expect((await admitUrl('https://agent.example:443/', { policy: strict, resolve })).port).toBe(443);
  });

  it('development mode admits http and any port to loopback', async () => {
    const admitted = await admitUrl('http://localhost:3001/.well-known/aauth-person.json', {
      policy: dev,
      resolve,
    });
    expect(admitted).toMatchObject({ port: 3001, address: '127.0.0.1', admission: 'dev-loopback' });
    expect((await admitUrl('http://127.0.0.1:3002/', { policy: dev, resolve })).address).toBe('127.0.0.1');
    expect((await admitUrl('http://[::1]:3003/', { policy: dev, resolve })).family).toBe(6);
  });

  it('development mode still refuses http to a public host and private addresses', async () => {
    expect((await refusal(admitUrl('http://agent.example/', { policy: dev, resolve }))).reason).toBe(
      'egress',
    );
    expect((await refusal(admitUrl('http://10.0.0.1:80/', { policy: dev, resolve }))).reason).toBe('egress');
    expect((await refusal(admitUrl('https://[::ffff:127.0.0.1]/', { policy: dev, resolve }))).reason).toBe(
      'egress',
    );
  });
});

describe('admitUrl — AAUTH_EGRESS_ALLOW', () => {
  it('admits an allowlisted host whatever it resolves to, with its port', async () => {
    const policy = createEgressPolicy({ allow: 'ps.localhost' });
    const resolve = resolverOf({ 'ps.localhost': ['127.0.0.1'], 'as.localhost': ['127.0.0.1'] });
    const admitted = await admitUrl('https://ps.localhost:8443/jwks', { policy, resolve });
    expect(admitted).toMatchObject({ address: '127.0.0.1', port: 8443, admission: 'allowlist' });
    expect((await refusal(admitUrl('https://as.localhost/jwks', { policy, resolve }))).reason).toBe('egress');
  });

  it('admits addresses inside an allowlisted CIDR only', async () => {
    const policy = createEgressPolicy({ allow: '10.20.0.0/16, fd00::/8' });
    const resolve = resolverOf({
      'inside.corp': ['10.20.1.2', 'fd00::7'],
      'half.corp': ['10.20.1.2', '10.21.0.1'],
    });
    expect((await admitUrl('https://inside.corp:9443/', { policy, resolve })).admission).toBe('allowlist');
    expect((await refusal(admitUrl('https://half.corp/', { policy, resolve }))).reason).toBe('egress');
    expect((await admitUrl('https://10.20.9.9/', { policy, resolve })).address).toBe('10.20.9.9');
  });

  it('the allowlist never admits http', async () => {
    const policy = createEgressPolicy({ allow: 'ps.localhost 127.0.0.0/8' });
    const resolve = resolverOf({ 'ps.localhost': ['127.0.0.1'] });
    expect((await refusal(admitUrl('http://ps.localhost/', { policy, resolve }))).reason).toBe('egress');
  });

  it('a public host reached on a non-default port needs every address configured', async () => {
    const policy = createEgressPolicy({ allow: '10.0.0.0/8' });
    const resolve = resolverOf({ 'both.example': ['10.0.0.1', '93.184.216.34'] });
    expect((await refusal(admitUrl('https://both.example:8443/', { policy, resolve }))).reason).toBe(
      'egress',
    );
    expect((await admitUrl('https://both.example/', { policy, resolve })).admission).toBe('allowlist');
  });
});
