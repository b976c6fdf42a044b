import {
  type Clock,
  createCompositeKeyResolver,
  createHttpKeyResolver,
  createLocalKeyResolver,
  createTokenVerifier,
  type IssuerKeyResolver,
  type LocalIssuer,
  type TokenVerifier,
} from '@aauth-ref/core';
import Fastify, { type FastifyInstance } from 'fastify';
import { renderError } from '../error-handler.js';
import { createLoggerOptions, type LoggerOptionsExtra } from '../logger.js';
import { aauthPlugin } from '../plugin.js';
import { registerHealthRoutes } from '../routes/health.js';
import type { AAuthRole, ReplayCache, RevocationChecker } from '../types.js';
import { type CommonConfig, fastifyTrustProxy } from './config.js';

/**
 * What every AAuth server builds before its own routes, in one place: key resolution (the server's
 * own roles answered locally so tokens it issued verify without HTTP, everyone else through
 * egress-admitted discovery), the token verifier, the Fastify instance with redacted logging and the
 * configured `trustProxy`, the verification plugin with the database-backed replay cache and
 * revocation state, and `/healthz` + `/readyz`.
 */
export interface AAuthServerOptions {
  readonly config: Pick<
    CommonConfig,
    'ISSUER' | 'LOG_LEVEL' | 'TRUST_PROXY' | 'identifierPolicy' | 'egressPolicy'
  >;
  readonly role: AAuthRole;
  readonly clock: Clock;
  /** The roles this server publishes on its origin (metadata + keys), answered without HTTP. */
  readonly localIssuers: readonly LocalIssuer[];
  /** Discovery of other parties; default: HTTP discovery under the configured egress policy. */
  readonly remoteKeys?: IssuerKeyResolver;
  /** `false` silences logging (tests); `true` or an object (a stream, overrides) logs with redaction. */
  readonly logger?: boolean | LoggerOptionsExtra;
  readonly replayCache: ReplayCache;
  readonly revocations: RevocationChecker;
  /** `/readyz`: database reachable and migrations applied. */
  readonly ready: () => Promise<boolean>;
  readonly windowSeconds?: number;
  readonly additionalComponents?: readonly string[];
}

export interface AAuthServer {
  readonly app: FastifyInstance;
  readonly keys: IssuerKeyResolver;
  readonly tokens: TokenVerifier;
}

export async function createAAuthServer(options: AAuthServerOptions): Promise<AAuthServer> {
  const { config, clock } = options;
  const keys = createCompositeKeyResolver(
    createLocalKeyResolver(options.localIssuers),
    options.remoteKeys ?? createHttpKeyResolver({ policy: config.egressPolicy, clock }),
  );
  const tokens = createTokenVerifier({ clock, keys, identifierPolicy: config.identifierPolicy });
  const logger =
    options.logger === false
      ? false
      : createLoggerOptions(config.LOG_LEVEL, typeof options.logger === 'object' ? options.logger : {});
  const app = Fastify({
    logger,
    trustProxy: fastifyTrustProxy(config.TRUST_PROXY),
    // The router's own rejections (a malformed percent-encoding, an over-long path parameter) go
    // through the one error handler too: problem+json `invalid_request`, never the request path echoed.
    frameworkErrors: (error, request, reply) => {
      renderError(error, request, reply);
    },
  });
  await app.register(aauthPlugin, {
    issuer: config.ISSUER,
    identifierPolicy: config.identifierPolicy,
    clock,
    keys,
    tokens,
    role: options.role,
    replayCache: options.replayCache,
    revocations: options.revocations,
    ...(options.windowSeconds === undefined ? {} : { windowSeconds: options.windowSeconds }),
    ...(options.additionalComponents === undefined
      ? {}
      : { additionalComponents: options.additionalComponents }),
  });
  registerHealthRoutes(app, { ready: options.ready });
  return { app, keys, tokens };
}
