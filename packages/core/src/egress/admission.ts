import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { DiscoveryError } from '../discovery/types.js';
import {
  type AddressAdmission,
  admitAddress,
  type EgressPolicy,
  isHostAllowListed,
  isLoopbackAddress,
} from './address-policy.js';

/**
 * Egress admission (Signature-Key §7.3): decides whether a URL may be fetched and which address the
 * connection must use. The resolver is injected so tests never touch DNS; the guarded fetch connects
 * only to the address returned here, so a DNS answer that changes between check and connect (DNS
 * rebinding) cannot redirect the request.
 */

export interface ResolvedAddress {
  readonly address: string;
  readonly family: number;
}

/** Resolves a host name to every address it has (A and AAAA). */
export type HostResolver = (hostname: string) => Promise<readonly ResolvedAddress[]>;

export const systemResolver: HostResolver = async (hostname) =>
  lookup(hostname, { all: true, verbatim: true });

export interface AdmitUrlOptions {
  readonly policy: EgressPolicy;
  readonly resolve?: HostResolver;
}

export interface AdmittedUrl {
  readonly url: URL;
  /** The host name as in the URL, without IPv6 brackets: SNI, certificate check and `Host` use it. */
  readonly hostname: string;
  readonly port: number;
  /** The address to connect to — the first resolved one; all of them passed. */
  readonly address: string;
  readonly family: 4 | 6;
  readonly admission: AddressAdmission;
}

function refuse(message: string): never {
  throw new DiscoveryError('egress', message);
}

function defaultPort(protocol: string): number {
  return protocol === 'https:' ? 443 : 80;
}

/**
 * Admits a URL or throws `DiscoveryError` (`egress` when refused, `network` when DNS fails).
 *
 * Rules: `https` only (development mode: `http` too, when every address is loopback); no userinfo;
 * an explicit non-default port only towards destinations the deployment admitted (allowlisted host or
 * address, or development loopback) — a public host is reached on 443 only; every resolved address
 * must pass, since the connection could land on any of them.
 */
export async function admitUrl(input: string | URL, options: AdmitUrlOptions): Promise<AdmittedUrl> {
  const { policy } = options;
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    return refuse('not an absolute URL');
  }
  if (url.protocol !== 'https:' && !(policy.devMode && url.protocol === 'http:')) {
    refuse(`scheme ${url.protocol} is not admitted`);
  }
  if (url.username !== '' || url.password !== '') refuse('URL carries userinfo');
  const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  if (hostname === '') refuse('URL has no host');
  const hostAllowed = isHostAllowListed(policy, hostname);

  let resolved: readonly ResolvedAddress[];
  if (isIP(hostname) !== 0) {
    resolved = [{ address: hostname, family: isIP(hostname) }];
  } else {
    try {
      resolved = await (options.resolve ?? systemResolver)(hostname);
    } catch (cause) {
      throw new DiscoveryError('network', `cannot resolve ${hostname}`, { cause });
    }
    if (resolved.length === 0) throw new DiscoveryError('network', `${hostname} has no address`);
  }

  let configuredOnly = true;
  let admission: AddressAdmission = 'public';
  for (const { address } of resolved) {
    const decision = admitAddress(policy, address, hostAllowed);
    if ('refused' in decision) refuse(`${hostname} resolves to a ${decision.refused} address`);
    if (decision.admitted === 'public') configuredOnly = false;
    if (url.protocol === 'http:' && !isLoopbackAddress(address)) refuse('http is admitted only to loopback');
    if (decision.admitted !== 'public' || admission === 'public') admission = decision.admitted;
  }
  if (url.port !== '' && !configuredOnly) refuse(`explicit port ${url.port} towards a public destination`);

  const first = resolved[0]!;
  const family = isIP(first.address) === 6 ? 6 : 4;
  return {
    url,
    hostname,
    port: url.port === '' ? defaultPort(url.protocol) : Number(url.port),
    address: first.address,
    family,
    admission,
  };
}
