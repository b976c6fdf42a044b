import type { Clock } from './clock.js';
import type { EgressPolicy } from './egress/address-policy.js';
import type { HostResolver } from './egress/admission.js';
import { createGuardedFetch } from './egress/guarded-fetch.js';
import { signRequest } from './httpsig/sign.js';
import type { KeyPair } from './jwk.js';
import type { Dwk } from './tokens/claims.js';

/**
 * A server's own signed requests to other servers (revocation notices to resources, PS → AS token
 * requests): signed with
 * `Signature-Key: sig=jwks_uri;id="<issuer>";dwk="<dwk>";kid="<active kid>"` (Signature-Key §3.6), so
 * the recipient discovers the key from the server's published metadata, and sent through egress admission
 * (ARCHITECTURE.md *Outbound fetches*).
 */

export interface OutboundRequest {
  readonly method: 'POST';
  readonly url: string;
  /** Lowercase names, signature headers included. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
}

export interface OutboundResponse {
  readonly status: number;
}

/** Sends one request; throws `DiscoveryError` (`egress` or `network`) when it cannot be delivered. */
export type OutboundFetch = (request: OutboundRequest) => Promise<OutboundResponse>;

/**
 * Components the signer can always produce for a JSON POST: the derived ones that need only the URL
 * and method, and the headers it sets itself. A recipient's `additional_signature_components` beyond
 * these name headers this request does not have, so they are left out (the recipient then refuses,
 * which the caller records).
 */
const PRODUCIBLE_COMPONENTS: ReadonlySet<string> = new Set([
  '@method',
  '@authority',
  '@path',
  '@target-uri',
  '@scheme',
  '@request-target',
  '@query',
  'signature-key',
  'content-type',
  'content-digest',
]);

export interface SignedOutbound {
  readonly request: OutboundRequest;
  /** Requested components that could not be covered. */
  readonly omittedComponents: readonly string[];
}

export interface OutboundSigner {
  /** Builds a signed `POST` of `body` as JSON; `requestedComponents` is the recipient's metadata value. */
  signJsonPost(url: string, body: unknown, requestedComponents?: unknown): SignedOutbound;
}

export interface OutboundSignerOptions {
  /** The `id` of the `jwks_uri` member: this server's issuer identifier. */
  readonly issuer: string;
  /** The metadata document under which the key is published (`aauth-person.json`, `aauth-access.json`). */
  readonly dwk: Dwk;
  /** The active signing key, read at each signing so a key rotation takes effect at once. */
  readonly key: () => KeyPair;
  readonly clock: Clock;
}

export function createOutboundSigner(options: OutboundSignerOptions): OutboundSigner {
  return {
    signJsonPost(url, body, requestedComponents) {
      const requested = Array.isArray(requestedComponents)
        ? requestedComponents.filter((value): value is string => typeof value === 'string')
        : [];
      const additional = requested.filter((component) => PRODUCIBLE_COMPONENTS.has(component));
      const omitted = requested.filter((component) => !PRODUCIBLE_COMPONENTS.has(component));
      const key = options.key();
      const bytes = Buffer.from(JSON.stringify(body), 'utf8');
      const headers = { 'content-type': 'application/json' };
      const signed = signRequest(
        { method: 'POST', url, headers, body: bytes },
        {
          key,
          signatureKey: { scheme: 'jwks_uri', id: options.issuer, dwk: options.dwk, kid: key.kid },
          clock: options.clock,
          additionalComponents: additional,
        },
      );
      return {
        request: { method: 'POST', url, headers: { ...headers, ...signed }, body: bytes },
        omittedComponents: omitted,
      };
    },
  };
}

export interface GuardedPostOptions {
  readonly policy: EgressPolicy;
  readonly resolve?: HostResolver;
  /** Whole-request deadline, default 5 s. */
  readonly timeoutMs?: number;
  /** Response bytes read before giving up (the status is all we use), default 16 KiB. */
  readonly maxResponseBytes?: number;
  readonly userAgent?: string;
}

/**
 * Outbound signed requests through core's egress admission (`createGuardedFetch`): admitted URL,
 * socket to the admitted address only, TLS ≥ 1.2, bounded size and time; a request with a body is
 * never redirected (a signed request is bound to its `@authority` and `@path`).
 */
export function createGuardedPost(options: GuardedPostOptions): OutboundFetch {
  const fetch = createGuardedFetch({
    policy: options.policy,
    ...(options.resolve ? { resolve: options.resolve } : {}),
    ...(options.userAgent ? { userAgent: options.userAgent } : {}),
    timeoutMs: options.timeoutMs ?? 5_000,
    maxBytes: options.maxResponseBytes ?? 16 * 1024,
  });
  return async (outbound) => {
    const response = await fetch(outbound.url, {
      method: outbound.method,
      headers: outbound.headers,
      body: outbound.body,
    });
    return { status: response.status };
  };
}
