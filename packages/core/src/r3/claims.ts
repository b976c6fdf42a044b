import { type IdentifierPolicy, isHttpsUrl } from '../identifiers.js';
import { isR3S256, parseR3Operations } from './document.js';
import { R3Error } from './errors.js';

/**
 * The R3 claims of resource and auth tokens (§Resource Token Extensions: "When a resource includes
 * R3 information, it MUST include both"; §Auth Token Extensions: `r3_uri`, `r3_s256`, `r3_granted`
 * REQUIRED for R3, `r3_per_call` OPTIONAL). Returns a problem description, or `undefined` when the
 * claims are acceptable; token issue/verify map it to their own failure.
 */
export function r3TokenClaimsProblem(
  kind: 'resource' | 'auth',
  claims: Readonly<Record<string, unknown>>,
  policy: IdentifierPolicy,
): string | undefined {
  const hasUri = claims.r3_uri !== undefined;
  const hasS256 = claims.r3_s256 !== undefined;
  if (hasUri !== hasS256) return `${kind} token carries one of r3_uri and r3_s256 without the other`;
  if (hasUri && !isHttpsUrl(claims.r3_uri, policy)) return `${kind} token r3_uri is not an https URL`;
  if (hasS256 && !isR3S256(claims.r3_s256)) return `${kind} token r3_s256 is not a base64url SHA-256`;
  if (kind === 'resource') return undefined;
  const hasGrant = claims.r3_granted !== undefined;
  const hasPerCall = claims.r3_per_call !== undefined;
  if ((hasGrant || hasPerCall) && !hasUri) return 'auth token carries R3 grants without r3_uri and r3_s256';
  if (hasUri && !hasGrant) return 'auth token carries r3_uri without r3_granted';
  try {
    const granted = hasGrant
      ? parseR3Operations(claims.r3_granted, { allowEmpty: true, member: 'r3_granted' })
      : undefined;
    if (hasPerCall) {
      const perCall = parseR3Operations(claims.r3_per_call, { allowEmpty: true, member: 'r3_per_call' });
      if (granted !== undefined && perCall.vocabulary !== granted.vocabulary) {
        return 'auth token r3_granted and r3_per_call use different vocabularies';
      }
    }
  } catch (err) {
    if (err instanceof R3Error) return `auth token ${err.detail ?? 'R3 claim is malformed'}`;
    throw err;
  }
  return undefined;
}
