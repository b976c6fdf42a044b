import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { DEFAULT_BODY_LIMIT, registerBodyParsers } from './body-parser.js';
import { registerErrorHandlers } from './error-handler.js';
import type { AAuthPluginOptions, AAuthServerInfo } from './types.js';
import { createVerifyHook } from './verify-hook.js';

async function registerAAuth(app: FastifyInstance, options: AAuthPluginOptions): Promise<void> {
  const issuer = new URL(options.issuer);
  if (issuer.origin !== options.issuer) {
    throw new Error(`issuer must be an origin without path or trailing slash: ${options.issuer}`);
  }
  const info: AAuthServerInfo = Object.freeze({
    issuer: options.issuer,
    identifierPolicy: options.identifierPolicy,
    role: options.role,
  });
  app.decorate('aauthServer', info);
  app.decorateRequest('aauth', null);
  app.decorateRequest('rawBody', undefined);
  registerBodyParsers(app, options.bodyLimit ?? DEFAULT_BODY_LIMIT);
  registerErrorHandlers(app);
  // Fail at start, not on the first request, when a route needs a replay cache nobody supplied.
  app.addHook('onRoute', (route) => {
    if (route.config?.aauth?.stateChanging && !options.replayCache) {
      throw new Error(`route ${route.method} ${route.url} is stateChanging but no replayCache was given`);
    }
  });
  // preValidation: the body is parsed (and its bytes kept) so Content-Digest can be checked.
  app.addHook('preValidation', createVerifyHook(options));
}

/**
 * The AAuth plugin every server registers first: raw-body capture, the signature-verification hook
 * driven by each route's `config.aauth`, and the problem+json error and not-found handlers.
 */
export const aauthPlugin = fp(registerAAuth, { name: '@aauth-ref/fastify', fastify: '5.x' });
