import {
  computeR3S256,
  createLocalKeyResolver,
  createTokenVerifier,
  DEV,
  DiscoveryError,
  type Dwk,
  type GuardedFetch,
  type GuardedFetchRequest,
  type GuardedResponse,
  type LocalIssuer,
  verifyRequestSignature,
} from '@aauth-ref/core';
import type { FakeClock } from './fake-clock.js';

/**
 * A stub resource serving R3 documents at their `r3_uri` (the issuer's injected `r3Fetch`): it
 * answers only requests signed with `jwks_uri` by `entitled` (R3 §R3 Document Access Restriction) and
 * serves the stored bytes verbatim (§Content Addressing). `failure` makes it unreachable or refuse.
 */
export interface StubR3Resource {
  readonly fetch: GuardedFetch;
  /** Stores `document` (serialized once) at `{origin}/r3/{s256}`; returns the R3 claims. */
  publish(document: unknown, bytes?: string): { r3_uri: string; r3_s256: string };
  /** Serves other bytes at an already published URI (a resource changing what it serves). */
  replace(uri: string, bytes: string): void;
  /** Requests answered (signed and entitled or not). */
  readonly requests: string[];
  /** The options of the last request (headers, bounds). */
  lastRequest: GuardedFetchRequest | undefined;
  failure: 'none' | 'unreachable' | 'egress' | 'forbidden' | 'server_error';
}

export function createStubR3Resource(options: {
  readonly origin: string;
  readonly clock: FakeClock;
  /** The entitled issuer's metadata and keys (the PS, or the AS), under the `dwk` it signs with. */
  readonly entitled: () => LocalIssuer;
}): StubR3Resource {
  const documents = new Map<string, Buffer>();
  const requests: string[] = [];
  const stub: StubR3Resource = {
    requests,
    lastRequest: undefined,
    failure: 'none',
    publish(document, bytes) {
      const text = bytes ?? JSON.stringify(document);
      const r3_s256 = computeR3S256(text);
      const r3_uri = `${options.origin}/r3/${r3_s256}`;
      documents.set(r3_uri, Buffer.from(text, 'utf8'));
      return { r3_uri, r3_s256 };
    },
    replace(uri, bytes) {
      documents.set(uri, Buffer.from(bytes, 'utf8'));
    },
    async fetch(url, request = {}): Promise<GuardedResponse> {
      requests.push(url);
      stub.lastRequest = request;
      if (stub.failure === 'unreachable') throw new DiscoveryError('network', 'connect ECONNREFUSED');
      if (stub.failure === 'egress') throw new DiscoveryError('egress', 'private address');
      const answer = (status: number, body = ''): GuardedResponse => ({
        status,
        headers: { 'content-type': 'application/json' },
        body: Buffer.from(body, 'utf8'),
        url,
      });
      if (stub.failure === 'server_error') return answer(500);
      const entitled = options.entitled();
      const keys = createLocalKeyResolver([entitled]);
      try {
        const verified = await verifyRequestSignature(
          { method: request.method ?? 'GET', url, headers: request.headers ?? {} },
          { schemes: ['jwks_uri'], jwksUriDwks: [entitled.dwk as Dwk] },
          {
            clock: options.clock,
            keys,
            tokens: createTokenVerifier({ clock: options.clock, keys, identifierPolicy: DEV }),
            identifierPolicy: DEV,
          },
        );
        if (verified?.signer.scheme !== 'jwks_uri' || verified.signer.id !== entitled.issuer) {
          return answer(401);
        }
      } catch {
        return answer(401);
      }
      if (stub.failure === 'forbidden') return answer(403);
      const body = documents.get(url);
      return body === undefined ? answer(404) : { ...answer(200), body };
    },
  };
  return stub;
}
