import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  admitAddress,
  classifyAddress,
  createEgressPolicy,
  isAddressAllowListed,
  isHostAllowListed,
  isLoopbackAddress,
  isPublicAddress,
  parseEgressAllowList,
} from './address-policy.js';

// Signature-Key §7.3: "Reject private, loopback, and link-local destination addresses unless
// explicitly allowed by deployment configuration."
describe('classifyAddress', () => {
  const cases: ReadonlyArray<[string, string]> = [
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'reserved'],
    ['10.0.0.1', 'private'],
    ['10.255.255.255', 'private'],
    ['100.64.0.1', 'shared'],
    ['100.127.255.254', 'shared'],
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['169.254.169.254', 'link-local'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.0.0.8', 'reserved'],
    ['192.0.2.10', 'documentation'],
    ['192.88.99.1', 'reserved'],
    ['192.168.1.1', 'private'],
    ['198.18.0.1', 'benchmarking'],
    ['198.19.255.255', 'benchmarking'],
    ['198.51.100.7', 'documentation'],
    ['203.0.113.9', 'documentation'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['255.255.255.255', 'broadcast'],
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['::ffff:127.0.0.1', 'ipv4-mapped'],
    ['::ffff:10.0.0.1', 'ipv4-mapped'],
    ['::ffff:7f00:1', 'ipv4-mapped'],
    ['::ffff:8.8.8.8', 'ipv4-mapped'],
    ['::127.0.0.1', 'ipv4-embedded'],
    ['::a00:1', 'ipv4-embedded'],
    ['64:ff9b::127.0.0.1', 'ipv4-embedded'],
    ['64:ff9b::a9fe:a9fe', 'ipv4-embedded'],
    ['64:ff9b:1::1', 'reserved'],
    ['2002:7f00:1::1', 'ipv4-embedded'],
    ['2002:c0a8:101::', 'ipv4-embedded'],
    ['2001::1', 'reserved'],
    ['2001:db8::1', 'documentation'],
    ['3fff::1', 'documentation'],
    ['fc00::1', 'unique-local'],
    ['fd12:3456::1', 'unique-local'],
    ['fe80::1', 'link-local'],
    ['febf::1', 'link-local'],
    ['fec0::1', 'reserved'],
    ['ff02::1', 'multicast'],
    ['100::1', 'reserved'],
    ['::2', 'reserved'],
    ['fe80::1%eth0', 'invalid'],
    ['example.com', 'invalid'],
    ['', 'invalid'],
  ];
  it.each(cases)('%s is %s', (address, cls) => {
    expect(classifyAddress(address)).toBe(cls);
    expect(isPublicAddress(address)).toBe(false);
  });

  it.each([
    '93.184.216.34',
    '8.8.8.8',
    '1.1.1.1',
    '172.32.0.1',
    '100.128.0.1',
    '2606:4700:4700::1111',
    '2a00:1450:4001:80b::200e',
    '64:ff9b::808:808',
    '2002:808:808::1',
  ])('%s is public', (address) => {
    expect(classifyAddress(address)).toBe('public');
    expect(isPublicAddress(address)).toBe(true);
  });

  it('names loopback only 127/8 and ::1', () => {
    expect(isLoopbackAddress('127.0.0.2')).toBe(true);
    expect(isLoopbackAddress('::1')).toBe(true);
    expect(isLoopbackAddress('::ffff:127.0.0.1')).toBe(false);
    expect(isLoopbackAddress('10.0.0.1')).toBe(false);
  });
});

describe('parseEgressAllowList (AAUTH_EGRESS_ALLOW)', () => {
  it('splits on commas and whitespace into hosts and networks', () => {
    const list = parseEgressAllowList(' PS.localhost, as.localhost\n10.1.0.0/16  fd00::/8,192.168.5.5 [::1]');
    expect([...list.hosts]).toEqual(['ps.localhost', 'as.localhost']);
    const policy = createEgressPolicy({ allow: list });
    expect(isHostAllowListed(policy, 'ps.localhost')).toBe(true);
    expect(isHostAllowListed(policy, 'PS.LOCALHOST')).toBe(true);
    expect(isHostAllowListed(policy, 'x.ps.localhost')).toBe(false);
    expect(isAddressAllowListed(policy, '10.1.200.3')).toBe(true);
    expect(isAddressAllowListed(policy, '10.2.0.1')).toBe(false);
    expect(isAddressAllowListed(policy, 'fd00:1::5')).toBe(true);
    expect(isAddressAllowListed(policy, '192.168.5.5')).toBe(true);
    expect(isAddressAllowListed(policy, '192.168.5.6')).toBe(false);
    expect(isAddressAllowListed(policy, '::1')).toBe(true);
  });

  it('is empty for undefined or blank', () => {
    expect(parseEgressAllowList(undefined).entries).toEqual([]);
    expect(parseEgressAllowList('  , ').entries).toEqual([]);
  });

  it.each(['10.0.0.0/33', '10.0.0.0/', 'fd00::/129', 'host:8443', 'bad host!', 'a/8', '*.example.com'])(
    'refuses %j at start',
    (value) => {
      expect(() => parseEgressAllowList(value)).toThrow(TypeError);
    },
  );
});

describe('admitAddress', () => {
  const strict = createEgressPolicy();
  const dev = createEgressPolicy({ devMode: true });
  it('admits public, refuses the rest in strict mode', () => {
    expect(admitAddress(strict, '93.184.216.34', false)).toEqual({ admitted: 'public' });
    expect(admitAddress(strict, '127.0.0.1', false)).toEqual({ refused: 'loopback' });
  });
  it('development mode adds loopback and nothing else', () => {
    expect(admitAddress(dev, '127.0.0.1', false)).toEqual({ admitted: 'dev-loopback' });
    expect(admitAddress(dev, '::1', false)).toEqual({ admitted: 'dev-loopback' });
    expect(admitAddress(dev, '::ffff:127.0.0.1', false)).toEqual({ refused: 'ipv4-mapped' });
    expect(admitAddress(dev, '10.0.0.1', false)).toEqual({ refused: 'private' });
    expect(admitAddress(dev, '169.254.169.254', false)).toEqual({ refused: 'link-local' });
  });
  it('the allowlist admits by address or by host', () => {
    const policy = createEgressPolicy({ allow: '10.0.0.0/8' });
    expect(admitAddress(policy, '10.9.9.9', false)).toEqual({ admitted: 'allowlist' });
    expect(admitAddress(policy, '192.168.0.1', false)).toEqual({ refused: 'private' });
    expect(admitAddress(policy, '192.168.0.1', true)).toEqual({ admitted: 'allowlist' });
    expect(admitAddress(policy, 'not-an-ip', true)).toEqual({ refused: 'invalid' });
  });
});

describe('properties', () => {
  const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((o) => o.join('.'));
  const hex = (a: string) => a.split('.').map(Number);
  it('an IPv4-mapped address is refused whatever it embeds', () => {
    fc.assert(fc.property(v4, (address) => classifyAddress(`::ffff:${address}`) === 'ipv4-mapped'));
  });
  it('NAT64 and 6to4 addresses are exactly as public as the IPv4 they embed', () => {
    fc.assert(
      fc.property(v4, (address) => {
        const [a = 0, b = 0, c = 0, d = 0] = hex(address);
        const high = ((a << 8) | b).toString(16);
        const low = ((c << 8) | d).toString(16);
        const pub = isPublicAddress(address);
        return (
          isPublicAddress(`64:ff9b::${address}`) === pub && isPublicAddress(`2002:${high}:${low}::1`) === pub
        );
      }),
    );
  });
  it('classifyAddress never throws', () => {
    fc.assert(fc.property(fc.string(), (s) => typeof classifyAddress(s) === 'string'));
  });
  it('parseEgressAllowList throws nothing but TypeError', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        try {
          parseEgressAllowList(s);
        } catch (error) {
          return error instanceof TypeError;
        }
        return true;
      }),
    );
  });
});
