// The public surface of @aauth-ref/core. Each module lists its exports explicitly; nothing else is public.
export * from './clock.js';
export * from './content-digest.js';
export * from './discovery/index.js';
export * from './egress/index.js';
export * from './errors.js';
export * from './headers/index.js';
export * from './httpsig/index.js';
export * from './identifiers.js';
export * from './interaction-code.js';
export * from './jwk.js';
export * from './mission.js';
export {
  createGuardedPost,
  createOutboundSigner,
  type GuardedPostOptions,
  type OutboundFetch,
  type OutboundRequest,
  type OutboundResponse,
  type OutboundSigner,
  type OutboundSignerOptions,
  type SignedOutbound,
} from './outbound.js';
// The issuers' signed, hash-verified R3 fetch (apps/person-server, apps/auth-server own it).
export * from './r3/fetch-document.js';
export * from './r3/index.js';
export * from './tokens/index.js';
