import type {
  Clock,
  IdentifierPolicy,
  IssuerKeyResolver,
  RouteSignaturePolicy,
  Signer,
  TokenKind,
  TokenVerifier,
  VerifiableScheme,
  VerifiedToken,
} from '@aauth-ref/core';

/** The AAuth role a server plays on its signed endpoints; it picks the error channel for unusable tokens. */
export type AAuthRole = 'resource' | 'person-server' | 'access-server';

/**
 * Remembers signatures already accepted on state-changing routes (§Freshness and Replay). The
 * application supplies a database-backed one so every instance of a server shares it.
 */
export interface ReplayCache {
  /**
   * Records `key` until `expiresAt` (milliseconds since the epoch). Resolves `false` when the key
   * was already recorded and has not expired — the request is a replay.
   */
  consume(key: string, expiresAt: number): Promise<boolean>;
}

/** Revocation state keyed by `(iss, jti)` (§Token Revocation: "Recipients … MUST key it by (iss, jti)"). */
export interface RevocationChecker {
  isRevoked(iss: string, jti: string): Promise<boolean>;
}

export interface AAuthPluginOptions {
  /** This server's public identifier; `@authority` and the verified URL are derived from it, never from `Host`. */
  readonly issuer: string;
  readonly identifierPolicy: IdentifierPolicy;
  readonly clock: Clock;
  /** The server's own keys composed with HTTP discovery. */
  readonly keys: IssuerKeyResolver;
  readonly tokens: TokenVerifier;
  readonly role: AAuthRole;
  /** Required for routes that declare `stateChanging`. */
  readonly replayCache?: ReplayCache;
  readonly revocations?: RevocationChecker;
  /** `created` validity window in seconds (default 60, §Verification step 3). */
  readonly windowSeconds?: number;
  /** Components every signed route of this server requires (`additional_signature_components`). */
  readonly additionalComponents?: readonly string[];
  /** Largest accepted request body in bytes (default 1 MiB). */
  readonly bodyLimit?: number;
}

/**
 * What a route declares in `config.aauth`; the shared hook verifies in the spec's order from it. The
 * signature policy is core's (`schemes`, `tokenKinds`, `jwksUriDwks`, `requireBodyComponents`,
 * `additionalComponents` beyond the server-wide ones); the window is server-wide.
 */
export interface RouteAAuthConfig extends Omit<RouteSignaturePolicy, 'windowSeconds'> {
  /** An unsigned request reaches the route with `request.aauth = null` (resources answer with a challenge). */
  readonly allowUnsigned?: boolean;
  /** Consult the replay cache (§Freshness and Replay). */
  readonly stateChanging?: boolean;
  /** PS: an agent token carrying `parent_agent` is refused with `invalid_agent_token`. */
  readonly rejectSubAgents?: boolean;
}

/** The verified signer of a request, as routes see it (`request.aauth`). */
export interface AAuthRequestContext {
  readonly scheme: VerifiableScheme;
  /** `jwt` scheme: which token was presented. */
  readonly tokenKind?: Exclude<TokenKind, 'resource'>;
  /** `jwt` scheme: the verified claims of that token. */
  readonly claims?: VerifiedToken<'agent' | 'person' | 'auth'>['claims'];
  readonly token?: VerifiedToken<'agent' | 'person' | 'auth'>;
  /** RFC 7638 thumbprint of the key that verified the HTTP signature. */
  readonly keyThumbprint: string;
  readonly signer: Signer;
  /** `created` of the verified signature (seconds). */
  readonly created: number;
  readonly label: string;
}

/** What the plugin tells routes and reply helpers about the server (`app.aauthServer`). */
export interface AAuthServerInfo {
  readonly issuer: string;
  readonly identifierPolicy: IdentifierPolicy;
  readonly role: AAuthRole;
}

declare module 'fastify' {
  interface FastifyInstance {
    aauthServer: AAuthServerInfo;
  }
  interface FastifyContextConfig {
    aauth?: RouteAAuthConfig;
  }
  interface FastifyRequest {
    /** The verified signer; `null` when the request was unsigned (or the route declares no `config.aauth`). */
    aauth: AAuthRequestContext | null;
    /** The exact body bytes received (digest and signature checks run over these). */
    rawBody: Buffer | undefined;
  }
}
