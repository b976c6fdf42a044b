/**
 * Identifier rules (§Server Identifiers, §Endpoint URLs, §Other URLs, §Agent Identifiers) and the
 * development-mode relaxation of ARCHITECTURE.md (*Configuration and modes*): with `devMode`,
 * `http://localhost:PORT` and `http://127.0.0.1:PORT` are accepted as server identifiers and
 * `localhost:PORT` / `127.0.0.1:PORT` as the domain of an agent identifier.
 */

export interface IdentifierPolicy {
  /** Development mode: admit loopback `http` identifiers with a port. */
  readonly devMode: boolean;
}

export const STRICT: IdentifierPolicy = Object.freeze({ devMode: false });
export const DEV: IdentifierPolicy = Object.freeze({ devMode: true });

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
const DEV_HOST = /^(localhost|127\.0\.0\.1)(:([1-9][0-9]{0,4}))?$/;

/** A DNS host name in lowercase A-label form (no port, no trailing dot, at least one label). */
export function isHostName(host: string): boolean {
  if (host.length === 0 || host.length > 253) return false;
  const labels = host.split('.');
  // A last label that is a number makes the WHATWG URL parser read the host as an IPv4 address
  // (`https://0x7f.1` is 127.0.0.1): such a string is not a host name and would not compare as one.
  if (/^(?:[0-9]+|0x[0-9a-f]*)$/.test(labels[labels.length - 1]!)) return false;
  for (const label of labels) {
    if (!LABEL.test(label)) return false;
    // An `xn--` label must be a real A-label; a hyphen in positions 3-4 otherwise is reserved (RFC 5891 §4.2.3.1).
    if (label.length >= 4 && label[2] === '-' && label[3] === '-' && !label.startsWith('xn--')) return false;
  }
  return true;
}

function isDevHost(hostWithPort: string): boolean {
  const m = DEV_HOST.exec(hostWithPort);
  if (!m) return false;
  return m[3] === undefined || Number(m[3]) <= 65535;
}

/**
 * §Server Identifiers: `https`, scheme and host only, no trailing slash, lowercase, A-labels.
 * Exact string rules — no normalisation is applied before checking.
 */
export function isServerIdentifier(value: unknown, policy: IdentifierPolicy = STRICT): value is string {
  if (typeof value !== 'string') return false;
  if (value.startsWith('https://') && isHostName(value.slice('https://'.length))) return true;
  if (policy.devMode && value.startsWith('http://')) return isDevHost(value.slice('http://'.length));
  if (policy.devMode && value.startsWith('https://')) return isDevHost(value.slice('https://'.length));
  return false;
}

/** The `scheme://host[:port]` origin of a URL, or `undefined` when it does not parse. */
export function originOf(url: string): string | undefined {
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}

/**
 * §Endpoint URLs: `https`, no fragment, no query (dev mode: loopback `http` too). Unlike a server
 * identifier an endpoint may carry a path and a port.
 */
export function isEndpointUrl(value: unknown, policy: IdentifierPolicy = STRICT): value is string {
  if (typeof value !== 'string') return false;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  if (value.includes('#') || value.includes('?')) return false;
  return isAllowedScheme(url, policy);
}

/** §Other URLs (`jwks_uri`, `logo_uri`, …): `https` (dev mode: loopback `http` too). */
export function isHttpsUrl(value: unknown, policy: IdentifierPolicy = STRICT): value is string {
  if (typeof value !== 'string') return false;
  try {
    return isAllowedScheme(new URL(value), policy);
  } catch {
    return false;
  }
}

function isAllowedScheme(url: URL, policy: IdentifierPolicy): boolean {
  if (url.username || url.password) return false;
  if (url.protocol === 'https:') return true;
  return policy.devMode && url.protocol === 'http:' && isDevHost(url.host);
}

// --- Agent identifiers -----------------------------------------------------------------------------

export interface AgentIdentifier {
  readonly local: string;
  readonly domain: string;
  /** Present when `local` contains the `+` sub-agent delimiter (for display only — never for decisions). */
  readonly parentLocal?: string;
}

const LOCAL = /^[a-z0-9._+-]{1,255}$/;

/**
 * Parses `aauth:local@domain` (§Agent Identifiers). Returns `undefined` when invalid. The `+` split
 * is informational: protocol decisions use the `parent_agent` claim, never the local part.
 */
export function parseAgentIdentifier(
  value: unknown,
  policy: IdentifierPolicy = STRICT,
): AgentIdentifier | undefined {
  if (typeof value !== 'string' || !value.startsWith('aauth:')) return undefined;
  const rest = value.slice('aauth:'.length);
  const at = rest.lastIndexOf('@');
  if (at <= 0) return undefined;
  const local = rest.slice(0, at);
  const domain = rest.slice(at + 1);
  if (!LOCAL.test(local)) return undefined;
  if (local.startsWith('+') || local.endsWith('+') || local.split('+').length > 2) return undefined;
  if (!(isHostName(domain) || (policy.devMode && isDevHost(domain)))) return undefined;
  const plus = local.indexOf('+');
  return plus > 0 ? { local, domain, parentLocal: local.slice(0, plus) } : { local, domain };
}

export function isAgentIdentifier(value: unknown, policy: IdentifierPolicy = STRICT): value is string {
  return parseAgentIdentifier(value, policy) !== undefined;
}

/** The agent-identifier domain an Agent Provider with this issuer uses (`https://ap.example` → `ap.example`). */
export function agentDomainOf(issuer: string): string {
  return new URL(issuer).host;
}

/** Builds `aauth:local@domain`, checking the result. Throws `TypeError` when the parts are invalid. */
export function formatAgentIdentifier(
  local: string,
  domain: string,
  policy: IdentifierPolicy = STRICT,
): string {
  const id = `aauth:${local}@${domain}`;
  if (!isAgentIdentifier(id, policy)) throw new TypeError(`invalid agent identifier: ${id}`);
  return id;
}
