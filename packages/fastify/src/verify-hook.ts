import {
  InvalidAgentToken,
  InvalidJwt,
  InvalidSignature,
  type RouteSignaturePolicy,
  SignatureError,
  SignatureInvalidRequest,
  SUPPORTED_ALGS,
  type VerifiedRequestSignature,
  type VerifierDeps,
  verifyRequestSignature,
} from '@aauth-ref/core';
import type { FastifyRequest } from 'fastify';
import { computeReplayKey } from './replay-cache.js';
import type { AAuthPluginOptions, AAuthRequestContext, RouteAAuthConfig } from './types.js';

/**
 * The shared verification hook (ARCHITECTURE.md, *Request path* steps 2–5). Routes declare what they
 * accept in `config.aauth`; the hook verifies in the spec's order and leaves `request.aauth` for the
 * route, which answers insufficient credentials with a challenge.
 */

const DEFAULT_WINDOW_SECONDS = 60;

function hasAnySignatureHeader(request: FastifyRequest): boolean {
  const h = request.headers;
  return h.signature !== undefined || h['signature-input'] !== undefined || h['signature-key'] !== undefined;
}

/** Adds the route's own accepted schemes and algorithms where the error calls for them (§Authentication Errors). */
function withRouteAccepts(err: SignatureError, schemes: readonly string[]): SignatureError {
  const needsSchemes = err.error === 'unsupported_scheme' && err.acceptSchemes === undefined;
  const needsAlgs = err.error === 'unsupported_algorithm' && err.acceptAlgs === undefined;
  if (!needsSchemes && !needsAlgs) return err;
  return new SignatureError(err.error, err.detail, {
    cause: err.cause ?? err,
    headers: err.headers,
    extra: err.extra,
    requiredInput: err.requiredInput,
    acceptSchemes: needsSchemes ? schemes : err.acceptSchemes,
    acceptAlgs: needsAlgs ? SUPPORTED_ALGS : err.acceptAlgs,
  });
}

export type VerifyHook = (request: FastifyRequest) => Promise<void>;

export function createVerifyHook(options: AAuthPluginOptions): VerifyHook {
  const issuerUrl = new URL(options.issuer);
  const authority = issuerUrl.host;
  const origin = issuerUrl.origin;
  const windowSeconds = options.windowSeconds ?? DEFAULT_WINDOW_SECONDS;
  const deps: VerifierDeps = {
    clock: options.clock,
    keys: options.keys,
    tokens: options.tokens,
    identifierPolicy: options.identifierPolicy,
  };
  // One policy object per route declaration, built once.
  const policies = new WeakMap<RouteAAuthConfig, RouteSignaturePolicy>();

  function policyFor(config: RouteAAuthConfig): RouteSignaturePolicy {
    let policy = policies.get(config);
    if (!policy) {
      const additional = [...(options.additionalComponents ?? []), ...(config.additionalComponents ?? [])];
      policy = {
        schemes: config.schemes ?? ['jwt'],
        tokenKinds: config.tokenKinds,
        jwksUriDwks: config.jwksUriDwks,
        requireBodyComponents: config.requireBodyComponents,
        additionalComponents: [...new Set(additional)],
        windowSeconds,
      };
      policies.set(config, policy);
    }
    return policy;
  }

  async function checkTokenUsable(
    verified: VerifiedRequestSignature,
    config: RouteAAuthConfig,
  ): Promise<void> {
    if (verified.signer.scheme !== 'jwt') return;
    const token = verified.signer.token;
    const onPsOrAs = options.role !== 'resource';
    if (options.revocations && (await options.revocations.isRevoked(token.claims.iss, token.claims.jti))) {
      // ARCHITECTURE.md *Request path*: unusable Signature-Key tokens are invalid_jwt at a resource;
      // at PS and AS endpoints a revoked agent token is invalid_agent_token.
      if (onPsOrAs && token.kind === 'agent')
        throw new InvalidAgentToken('The agent token has been revoked.');
      throw new InvalidJwt('The token in Signature-Key has been revoked.');
    }
    if (config.rejectSubAgents && token.kind === 'agent' && token.claims.parent_agent !== undefined) {
      throw new InvalidAgentToken('A sub-agent token is not accepted at this endpoint.');
    }
  }

  async function checkReplay(request: FastifyRequest, verified: VerifiedRequestSignature): Promise<void> {
    const cache = options.replayCache;
    if (!cache) throw new Error('a stateChanging route needs the replayCache option');
    const query = request.url.indexOf('?');
    const key = computeReplayKey({
      keyThumbprint: verified.key.thumbprint,
      created: verified.created,
      method: request.method,
      authority,
      path: query < 0 ? request.url : request.url.slice(0, query),
      signature: verified.signature,
    });
    // Kept until the signature can no longer pass the freshness check; one extra second for rounding.
    const validUntil = Math.min(
      verified.created + windowSeconds,
      verified.expires ?? Number.POSITIVE_INFINITY,
    );
    if (!(await cache.consume(key, (validUntil + 1) * 1000))) {
      throw new InvalidSignature('The signature has already been used.');
    }
  }

  return async function verifyAAuthRequest(request: FastifyRequest): Promise<void> {
    const config = request.routeOptions.config.aauth;
    if (!config) return;
    request.aauth = null;
    const policy = policyFor(config);
    const schemes = policy.schemes ?? ['jwt'];
    if (!hasAnySignatureHeader(request)) {
      if (config.allowUnsigned) return;
      throw new SignatureInvalidRequest(
        'The request must be signed (Signature-Input, Signature, Signature-Key).',
      );
    }
    let verified: VerifiedRequestSignature | undefined;
    try {
      verified = await verifyRequestSignature(
        {
          method: request.method,
          // Never from Host: the public identifier plus the path and query as received.
          url: `${origin}${request.url}`,
          headers: request.headers,
          body: request.rawBody,
        },
        policy,
        deps,
      );
    } catch (err) {
      throw err instanceof SignatureError ? withRouteAccepts(err, schemes) : err;
    }
    if (!verified) {
      if (config.allowUnsigned) return;
      throw new SignatureInvalidRequest(
        'The request must be signed (Signature-Input, Signature, Signature-Key).',
      );
    }
    await checkTokenUsable(verified, config);
    if (config.stateChanging) await checkReplay(request, verified);
    const token = verified.signer.scheme === 'jwt' ? verified.signer.token : undefined;
    const context: AAuthRequestContext = {
      scheme: verified.scheme,
      tokenKind: token?.kind,
      claims: token?.claims,
      token,
      keyThumbprint: verified.key.thumbprint,
      signer: verified.signer,
      created: verified.created,
      label: verified.label,
    };
    request.aauth = context;
  };
}
