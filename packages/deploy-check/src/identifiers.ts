import { isServerIdentifier, STRICT } from '@aauth-ref/core';

/**
 * A deployment's issuer must be a strict-mode server identifier (§Server Identifiers): https, a
 * lowercase host, no port, no path, no trailing slash. The explicit URL checks restate the rule so a
 * failure message says which part is wrong.
 */
export function describeIssuerProblem(issuer: unknown): string | undefined {
  if (typeof issuer !== 'string') return 'is not a string';
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    return 'is not a URL';
  }
  if (url.protocol !== 'https:') return 'is not https';
  if (url.port !== '' || /:\d+$/.test(url.host) || /:\d*$/.test(issuer)) return 'carries a port';
  if (issuer !== issuer.toLowerCase()) return 'is not lowercase';
  if (issuer !== url.origin) return 'carries a path, query or trailing slash';
  if (!isServerIdentifier(issuer, STRICT)) return 'is not a strict server identifier';
  return undefined;
}
