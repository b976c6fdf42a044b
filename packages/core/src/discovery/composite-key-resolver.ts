import type { LocalKeyResolver } from './local-key-resolver.js';
import type { IssuerKeyResolver } from './types.js';

/** Local issuers (by issuer and dwk) answered locally, everything else by `remote`. */
export function createCompositeKeyResolver(
  local: LocalKeyResolver,
  remote: IssuerKeyResolver,
): IssuerKeyResolver {
  return {
    resolveKey: (iss, dwk, kid, options) =>
      local.has(iss, dwk)
        ? local.resolveKey(iss, dwk, kid, options)
        : remote.resolveKey(iss, dwk, kid, options),
    metadata: (iss, dwk) => (local.has(iss, dwk) ? local.metadata(iss, dwk) : remote.metadata(iss, dwk)),
  };
}
