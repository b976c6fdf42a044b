import { InvalidResourceToken } from '../errors.js';
import { MAX_LIFETIME_SECONDS } from './claims.js';

/**
 * §Resource Token Structure: "Resource tokens SHOULD NOT have a lifetime exceeding 5 minutes", and the
 * PS retains person-token records "beyond the person token's `exp` by at least the longest resource
 * token lifetime the PS accepts" — so a PS (and an AS) states that longest lifetime and refuses a
 * resource token that claims more. The lifetime is what the token says of itself, `exp - iat`.
 */
export const DEFAULT_RESOURCE_TOKEN_MAX_LIFETIME_SECONDS = MAX_LIFETIME_SECONDS.resource;

export function assertResourceTokenLifetime(
  claims: { readonly iat: number; readonly exp: number },
  maxSeconds: number = DEFAULT_RESOURCE_TOKEN_MAX_LIFETIME_SECONDS,
): void {
  if (claims.exp - claims.iat > maxSeconds) {
    throw new InvalidResourceToken(
      `The resource token's lifetime (exp - iat) exceeds the ${maxSeconds} s this server accepts.`,
    );
  }
}
