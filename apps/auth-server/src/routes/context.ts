import { type Clock, DWK, SignatureInvalidRequest } from '@aauth-ref/core';
import type { LoginThrottle, PageSessions, RateLimiter, RouteAAuthConfig } from '@aauth-ref/fastify';
import type { FastifyRequest } from 'fastify';
import type { AuthServerConfig } from '../config.js';
import type { FederationService } from '../services/federation-service.js';
import type { RevocationService } from '../services/revocation-service.js';
import type { TokenService } from '../services/token-service.js';
import type { FederationStore, PersonStore } from '../stores/prisma-federation.js';

/** What the routes share: built once in `buildApp`. */
export interface AppContext {
  readonly config: AuthServerConfig;
  readonly issuer: string;
  readonly tokens: TokenService;
  readonly revocations: RevocationService;
}

/** What the person-facing pages share. */
export interface PageContext {
  readonly issuer: string;
  readonly clock: Clock;
  readonly siteName: string;
  readonly sessions: PageSessions;
  readonly persons: PersonStore;
  readonly loginThrottle: LoginThrottle;
  /** §Interaction Code Format: failed code attempts, per person and per address. */
  readonly codeAttempts: { readonly perPerson: RateLimiter; readonly perAddress: RateLimiter };
  readonly federation: FederationService;
  readonly store: FederationStore;
  readonly revocations: RevocationService;
}

/**
 * Every AS endpoint is for Person Servers only, each signing as itself: `Signature-Key: sig=jwks_uri;
 * id="<PS issuer>";dwk="aauth-person.json";kid="…"` (docs/spec-decisions.md, *Auth server*). An agent
 * presenting `jwt` is `401 unsupported_scheme` with `Accept-Signature-Scheme: jwks_uri`.
 */
const PS_ONLY = { schemes: ['jwks_uri'], jwksUriDwks: [DWK.person] } as const satisfies RouteAAuthConfig;

/** Reads (polls): signed, no replay cache. */
export const PS_READ: RouteAAuthConfig = PS_ONLY;
/** Token request, claims answer, cancel: the body is covered (`content-type`, `content-digest`), replays refused. */
export const PS_WRITE: RouteAAuthConfig = { ...PS_ONLY, requireBodyComponents: true, stateChanging: true };

/** The calling Person Server: the verified `jwks_uri` signer's `id`. */
export function callingPersonServer(request: FastifyRequest): string {
  const signer = request.aauth?.signer;
  // The hook admits only jwks_uri here; anything else is a wiring error, answered like an unsigned call.
  if (signer?.scheme !== 'jwks_uri')
    throw new SignatureInvalidRequest('The request must be signed by a Person Server.');
  return signer.id;
}
