import { BlockList, isIP } from 'node:net';

/**
 * Which destination addresses an outbound fetch may reach (Signature-Key §7.3, ARCHITECTURE.md
 * *Outbound fetches*): public unicast addresses only, plus what the deployment admits through
 * `AAUTH_EGRESS_ALLOW`, plus loopback in development mode.
 */

/** Why an address is (not) public; every class but `public` is refused unless admitted. */
export type AddressClass =
  | 'public'
  | 'unspecified'
  | 'loopback'
  | 'private'
  | 'shared' // 100.64.0.0/10, carrier-grade NAT
  | 'link-local'
  | 'unique-local'
  | 'multicast'
  | 'broadcast'
  | 'documentation'
  | 'benchmarking'
  | 'reserved'
  | 'ipv4-mapped'
  | 'ipv4-embedded' // IPv4-compatible, or NAT64/6to4 carrying a non-public IPv4
  | 'invalid';

type Range = readonly [network: string, prefix: number, cls: AddressClass];

// Order matters: the first matching range names the class (0.0.0.0 before 0/8, broadcast before 240/4).
const V4_RANGES: readonly Range[] = [
  ['0.0.0.0', 32, 'unspecified'],
  ['0.0.0.0', 8, 'reserved'],
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'shared'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local'],
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'reserved'],
  ['192.0.2.0', 24, 'documentation'],
  ['192.88.99.0', 24, 'reserved'],
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'benchmarking'],
  ['198.51.100.0', 24, 'documentation'],
  ['203.0.113.0', 24, 'documentation'],
  ['224.0.0.0', 4, 'multicast'],
  ['255.255.255.255', 32, 'broadcast'],
  ['240.0.0.0', 4, 'reserved'],
];

// IPv6 outside 2000::/3 is refused wholesale; these are the exceptions inside it and the named classes
// outside it. The IPv4-embedding prefixes are handled before this table.
const V6_RANGES: readonly Range[] = [
  ['::', 128, 'unspecified'],
  ['::1', 128, 'loopback'],
  ['fc00::', 7, 'unique-local'],
  ['fe80::', 10, 'link-local'],
  ['ff00::', 8, 'multicast'],
  ['2001:db8::', 32, 'documentation'],
  ['3fff::', 20, 'documentation'],
  ['2001::', 23, 'reserved'], // IETF protocol assignments, Teredo (embeds an obfuscated IPv4)
];

function buildLists(
  ranges: readonly Range[],
  family: 'ipv4' | 'ipv6',
): ReadonlyArray<[BlockList, AddressClass]> {
  return ranges.map(([network, prefix, cls]) => {
    const list = new BlockList();
    list.addSubnet(network, prefix, family);
    return [list, cls];
  });
}

const V4_LISTS = buildLists(V4_RANGES, 'ipv4');
const V6_LISTS = buildLists(V6_RANGES, 'ipv6');

function classifyIPv4(address: string): AddressClass {
  for (const [list, cls] of V4_LISTS) if (list.check(address, 'ipv4')) return cls;
  return 'public';
}

/** The 16 bytes of an IPv6 address (no zone), or `undefined`. */
function ipv6Bytes(address: string): Uint8Array | undefined {
  if (isIP(address) !== 6 || address.includes('%')) return undefined;
  let text = address;
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    const octets = tail.split('.').map(Number);
    const [a = 0, b = 0, c = 0, d = 0] = octets;
    text = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = text.split('::');
  const left = halves[0] ? halves[0].split(':') : [];
  const right = halves.length > 1 && halves[1] ? halves[1].split(':') : [];
  const groups = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const bytes = new Uint8Array(16);
  groups.forEach((group, i) => {
    const value = Number.parseInt(group, 16);
    bytes[i * 2] = value >> 8;
    bytes[i * 2 + 1] = value & 0xff;
  });
  return bytes;
}

function startsWith(bytes: Uint8Array, prefix: readonly number[]): boolean {
  return prefix.every((value, i) => bytes[i] === value);
}

function v4At(bytes: Uint8Array, offset: number): string {
  return `${bytes[offset]}.${bytes[offset + 1]}.${bytes[offset + 2]}.${bytes[offset + 3]}`;
}

function classifyIPv6(address: string): AddressClass {
  const bytes = ipv6Bytes(address);
  if (!bytes) return 'invalid';
  const zeros80 = bytes.subarray(0, 10).every((b) => b === 0);
  // ::ffff:0:0/96 — a v6 socket would reach the embedded IPv4; refused whatever it embeds.
  if (zeros80 && bytes[10] === 0xff && bytes[11] === 0xff) return 'ipv4-mapped';
  // ::/96 (deprecated IPv4-compatible) apart from :: and ::1, which the table names.
  if (
    zeros80 &&
    bytes[10] === 0 &&
    bytes[11] === 0 &&
    !(bytes[12] === 0 && bytes[13] === 0 && bytes[14] === 0)
  ) {
    return 'ipv4-embedded';
  }
  // 64:ff9b::/96 well-known NAT64 prefix: as public as the IPv4 it translates to.
  if (startsWith(bytes, [0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0])) {
    return classifyIPv4(v4At(bytes, 12)) === 'public' ? 'public' : 'ipv4-embedded';
  }
  // 64:ff9b:1::/48 local-use NAT64 (RFC 8215).
  if (startsWith(bytes, [0, 0x64, 0xff, 0x9b, 0, 1])) return 'reserved';
  // 2002::/16 6to4: as public as the embedded IPv4.
  if (startsWith(bytes, [0x20, 0x02]))
    return classifyIPv4(v4At(bytes, 2)) === 'public' ? 'public' : 'ipv4-embedded';
  for (const [list, cls] of V6_LISTS) if (list.check(address, 'ipv6')) return cls;
  // Only 2000::/3 is allocated global unicast.
  return ((bytes[0] ?? 0) & 0xe0) === 0x20 ? 'public' : 'reserved';
}

/** Classifies an IP address; a string that is not an IP literal is `invalid`. */
export function classifyAddress(address: string): AddressClass {
  const family = isIP(address);
  if (family === 4) return classifyIPv4(address);
  if (family === 6) return classifyIPv6(address);
  return 'invalid';
}

/** A globally routable unicast address that egress may reach without deployment admission. */
export function isPublicAddress(address: string): boolean {
  return classifyAddress(address) === 'public';
}

/** 127.0.0.0/8 or ::1 — what development mode admits, nothing else. */
export function isLoopbackAddress(address: string): boolean {
  return classifyAddress(address) === 'loopback';
}

// --- AAUTH_EGRESS_ALLOW ----------------------------------------------------------------------------

/** The deployment's egress admissions: exact host names and IP networks. */
export interface EgressAllowList {
  /** Lowercase host names, compared exactly (no wildcards, no suffix matching). */
  readonly hosts: ReadonlySet<string>;
  readonly networks: BlockList;
  /** The entries as configured, for the start-up log. */
  readonly entries: readonly string[];
}

const HOST_ENTRY =
  /^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$/;

function addNetwork(networks: BlockList, entry: string): void {
  const slash = entry.indexOf('/');
  const raw = slash < 0 ? entry : entry.slice(0, slash);
  const address = raw.startsWith('[') && raw.endsWith(']') ? raw.slice(1, -1) : raw;
  const family = isIP(address);
  const max = family === 4 ? 32 : 128;
  const prefixText = slash < 0 ? String(max) : entry.slice(slash + 1);
  const prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : Number.NaN;
  if (family === 0 || !(prefix >= 0 && prefix <= max)) {
    throw new TypeError(
      `AAUTH_EGRESS_ALLOW: ${JSON.stringify(entry)} is neither a host name nor an IP network`,
    );
  }
  networks.addSubnet(address, prefix, family === 4 ? 'ipv4' : 'ipv6');
}

/**
 * Parses `AAUTH_EGRESS_ALLOW`: entries separated by commas and/or whitespace, each a host name
 * (matched exactly, case-folded to lowercase), an IP address, or a CIDR (`10.0.0.0/8`, `fd00::/8`).
 * Throws `TypeError` on an entry that is none of these, so a typo fails the server at start.
 */
export function parseEgressAllowList(value: string | undefined): EgressAllowList {
  const entries = (value ?? '').split(/[\s,]+/).filter((entry) => entry.length > 0);
  const hosts = new Set<string>();
  const networks = new BlockList();
  for (const entry of entries) {
    const bare = entry.startsWith('[') && entry.endsWith(']') ? entry.slice(1, -1) : entry;
    if (entry.includes('/') || isIP(bare) !== 0) {
      addNetwork(networks, entry);
      continue;
    }
    const host = entry.toLowerCase();
    if (!HOST_ENTRY.test(host)) {
      throw new TypeError(
        `AAUTH_EGRESS_ALLOW: ${JSON.stringify(entry)} is neither a host name nor an IP network`,
      );
    }
    hosts.add(host);
  }
  return Object.freeze({ hosts, networks, entries: Object.freeze(entries) });
}

/** Strict mode plus deployment admissions, or development mode (adds `http` and loopback). */
export interface EgressPolicy {
  readonly devMode: boolean;
  readonly allow: EgressAllowList;
}

export interface EgressPolicyOptions {
  readonly devMode?: boolean;
  /** The `AAUTH_EGRESS_ALLOW` string, or an already parsed list. */
  readonly allow?: string | EgressAllowList;
}

export function createEgressPolicy(options: EgressPolicyOptions = {}): EgressPolicy {
  const allow = typeof options.allow === 'object' ? options.allow : parseEgressAllowList(options.allow);
  return Object.freeze({ devMode: options.devMode === true, allow });
}

export function isHostAllowListed(policy: EgressPolicy, hostname: string): boolean {
  return policy.allow.hosts.has(hostname.toLowerCase());
}

export function isAddressAllowListed(policy: EgressPolicy, address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  return policy.allow.networks.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/** How an address was admitted: `public`, by the deployment's list, or as development loopback. */
export type AddressAdmission = 'public' | 'allowlist' | 'dev-loopback';

/**
 * Decides one destination address. `hostAllowed` is true when the URL's host name itself is listed:
 * the deployment vouches for whatever that name resolves to.
 */
export function admitAddress(
  policy: EgressPolicy,
  address: string,
  hostAllowed: boolean,
): { readonly admitted: AddressAdmission } | { readonly refused: AddressClass } {
  const cls = classifyAddress(address);
  if (cls === 'invalid') return { refused: cls };
  if (hostAllowed || isAddressAllowListed(policy, address)) return { admitted: 'allowlist' };
  if (cls === 'public') return { admitted: 'public' };
  if (policy.devMode && cls === 'loopback') return { admitted: 'dev-loopback' };
  return { refused: cls };
}
