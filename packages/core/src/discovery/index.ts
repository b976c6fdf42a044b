export { createCompositeKeyResolver } from './composite-key-resolver.js';
export type { HttpKeyResolverOptions } from './http-key-resolver.js';
export { createHttpKeyResolver, JWKS_REFETCH_FLOOR_MS, responseLifetimeMs } from './http-key-resolver.js';
export type { LocalIssuer, LocalKeyResolver } from './local-key-resolver.js';
export { createLocalKeyResolver } from './local-key-resolver.js';
export type {
  AAuthMetadata,
  AccessServerMetadata,
  AgentProviderMetadata,
  CommonMetadata,
  PersonServerMetadata,
  ResourceMetadata,
} from './metadata.js';
export { buildWellKnownUrl, validateMetadata } from './metadata.js';
export type { DiscoveryFailureReason, IssuerKeyResolver, ResolveKeyOptions } from './types.js';
export { DiscoveryError } from './types.js';
