import { type Clock, type KeyPair, type SignatureKeyMember, signRequest, systemClock } from '@aauth-ref/core';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';

/**
 * Signed test requests: `signRequest` from core over the URL a real client would use, so the
 * `@authority` is the server's public identifier, not whatever `Host` `inject` invents.
 */

export type TestBody = string | Uint8Array | Record<string, unknown> | readonly unknown[];

export interface SignedRequestOptions {
  readonly method: string;
  /** Path and query, e.g. `/token?x=1`. */
  readonly path: string;
  readonly headers?: Record<string, string>;
  /** Objects and arrays are sent as JSON with `Content-Type: application/json`. */
  readonly body?: TestBody;
  /** The signing key (the `cnf` key of the presented token). */
  readonly key: Pick<KeyPair, 'alg' | 'privateKey'>;
  /** A JWT (sent as `sig=jwt;jwt=…`) or any Signature-Key member. */
  readonly signatureKey: string | SignatureKeyMember;
  readonly clock?: Clock;
  /** The server's public identifier, e.g. `https://ps.example`. */
  readonly issuer: string;
  readonly additionalComponents?: readonly string[];
  readonly expiresInSeconds?: number;
}

export interface BuiltSignedRequest {
  readonly method: string;
  /** Absolute URL (issuer origin + path). */
  readonly url: string;
  readonly path: string;
  /** Every header to send, signature headers included (lowercase names). */
  readonly headers: Record<string, string>;
  readonly body: Buffer | undefined;
}

function encodeBody(body: TestBody | undefined, headers: Record<string, string>): Buffer | undefined {
  if (body === undefined) return undefined;
  if (typeof body === 'string') return Buffer.from(body);
  if (body instanceof Uint8Array) return Buffer.from(body);
  if (headers['content-type'] === undefined) headers['content-type'] = 'application/json';
  return Buffer.from(JSON.stringify(body));
}

/** Builds and signs a request without sending it (send it twice to test replay). */
export function buildSignedRequest(options: SignedRequestOptions): BuiltSignedRequest {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(options.headers ?? {})) headers[name.toLowerCase()] = value;
  const body = encodeBody(options.body, headers);
  const url = new URL(options.path, options.issuer).href;
  const signatureKey: SignatureKeyMember =
    typeof options.signatureKey === 'string'
      ? { scheme: 'jwt', jwt: options.signatureKey }
      : options.signatureKey;
  const signed = signRequest(
    { method: options.method, url, headers, ...(body === undefined ? {} : { body }) },
    {
      key: options.key,
      signatureKey,
      clock: options.clock ?? systemClock,
      additionalComponents: options.additionalComponents,
      expiresInSeconds: options.expiresInSeconds,
    },
  );
  return { method: options.method, url, path: options.path, headers: { ...headers, ...signed }, body };
}

/** Sends a built request through `app.inject` with `Host` set to the issuer's authority. */
export function injectBuilt(
  app: FastifyInstance,
  request: BuiltSignedRequest,
): Promise<LightMyRequestResponse> {
  return app.inject({
    method: request.method as 'GET',
    url: request.path,
    headers: { host: new URL(request.url).host, ...request.headers },
    ...(request.body === undefined ? {} : { payload: request.body }),
  });
}

/** Signs with core's `signRequest` (authority from `issuer`) and calls `app.inject`. */
export function signedInject(
  app: FastifyInstance,
  options: SignedRequestOptions,
): Promise<LightMyRequestResponse> {
  return injectBuilt(app, buildSignedRequest(options));
}

export type SignedFetchOptions = Omit<SignedRequestOptions, 'path' | 'issuer' | 'method'> & {
  readonly method?: string;
};

/** Signs and sends a real HTTP request (tests only ever target loopback). */
export function signedFetch(url: string, options: SignedFetchOptions): Promise<Response> {
  const target = new URL(url);
  const built = buildSignedRequest({
    ...options,
    method: options.method ?? 'GET',
    path: `${target.pathname}${target.search}`,
    issuer: target.origin,
  });
  return fetch(built.url, {
    method: built.method,
    headers: built.headers,
    ...(built.body === undefined ? {} : { body: built.body }),
  });
}
