import { LRUCache } from 'lru-cache';
import type { Clock } from '../clock.js';
import { DiscoveryError } from '../discovery/types.js';
import type { GuardedFetch, GuardedResponse } from '../egress/guarded-fetch.js';
import { InvalidResourceToken, TemporarilyUnavailable } from '../errors.js';
import { signRequest } from '../httpsig/sign.js';
import { type IdentifierPolicy, isHttpsUrl, originOf } from '../identifiers.js';
import type { KeyPair } from '../jwk.js';
import type { Dwk } from '../tokens/claims.js';
import { isR3S256, verifyR3Document } from './document.js';
import { R3Error } from './errors.js';
import type { R3Document } from './types.js';

/**
 * The issuer side of R3 (draft-hardt-aauth-r3 §R3 Processing, §AS Processing steps 2–3, §Hash
 * Verification, §R3 Document Access Restriction): a PS or AS fetches `r3_uri` with a request signed
 * as itself (`jwks_uri`, its own issuer and `dwk`) through egress admission, hashes the exact bytes
 * received and compares them with `r3_s256`. A verified document is cached by its hash and never
 * fetched again (§Content Addressing: "A document that verifies against its hash need never be
 * re-fetched"). Every failure is a typed error: a resource token whose document is wrong, refused
 * or missing is `400 invalid_resource_token`; a resource that cannot be reached right now is
 * `503 temporarily_unavailable` (the agent may retry).
 */

/** The R3 claims of a resource token, both present (§Resource Token Extensions: "MUST include both"). */
export interface R3Reference {
  readonly r3_uri: string;
  readonly r3_s256: string;
}

/** A document fetched for a resource token and verified against its `r3_s256`. */
export interface FetchedR3Document extends R3Reference {
  readonly document: R3Document;
  /** Whether this answer came from the hash cache (no request was sent). */
  readonly cached: boolean;
}

export interface R3DocumentFetcherOptions {
  /** The fetching server's issuer identifier: the `id` of its `jwks_uri` signature. */
  readonly issuer: string;
  /** Where that server publishes its keys: `aauth-person.json` (PS) or `aauth-access.json` (AS). */
  readonly dwk: Dwk;
  /** The active signing key, read per request so a rotation takes effect at once. */
  readonly key: () => KeyPair;
  readonly clock: Clock;
  /** Core's egress-admitted fetch (`createGuardedFetch`); tests inject a stub resource. */
  readonly fetch: GuardedFetch;
  readonly identifierPolicy: IdentifierPolicy;
  /** Bytes read before the document is refused (default 64 KiB). */
  readonly maxBytes?: number;
  /** Whole-request deadline (default 5 s). */
  readonly timeoutMs?: number;
  /** Verified documents kept by hash (default 1000). */
  readonly cacheSize?: number;
}

export interface R3DocumentFetcher {
  /**
   * The verified document `reference` names. `resource` is the resource token's `iss`: `r3_uri` must
   * be on its origin, so a resource token cannot point the issuer's signed requests elsewhere.
   */
  fetch(reference: R3Reference, resource: string): Promise<FetchedR3Document>;
}

export const R3_DOCUMENT_MAX_BYTES = 64 * 1024;
const R3_FETCH_TIMEOUT_MS = 5_000;
const DEFAULT_CACHE_SIZE = 1000;
/**
 * The R3 claims of verified resource-token claims: `undefined` when neither is present; both, well
 * formed, otherwise (`400 invalid_resource_token`).
 */
export function readR3Reference(
  claims: Readonly<Record<string, unknown>>,
  identifierPolicy: IdentifierPolicy,
): R3Reference | undefined {
  const uri = claims.r3_uri;
  const s256 = claims.r3_s256;
  if (uri === undefined && s256 === undefined) return undefined;
  if (uri === undefined || s256 === undefined) {
    throw new InvalidResourceToken('The resource token must carry both r3_uri and r3_s256, or neither.');
  }
  if (!isHttpsUrl(uri, identifierPolicy) || uri.includes('#')) {
    throw new InvalidResourceToken('The resource token r3_uri must be an https URL.');
  }
  if (!isR3S256(s256)) {
    throw new InvalidResourceToken('The resource token r3_s256 is not a SHA-256 base64url digest.');
  }
  return { r3_uri: uri, r3_s256: s256 };
}

export function createR3DocumentFetcher(options: R3DocumentFetcherOptions): R3DocumentFetcher {
  const maxBytes = options.maxBytes ?? R3_DOCUMENT_MAX_BYTES;
  const timeoutMs = options.timeoutMs ?? R3_FETCH_TIMEOUT_MS;
  const cache = new LRUCache<string, R3Document>({ max: options.cacheSize ?? DEFAULT_CACHE_SIZE });

  async function get(url: string): Promise<GuardedResponse> {
    const key = options.key();
    const signed = signRequest(
      { method: 'GET', url, headers: {} },
      {
        key,
        signatureKey: { scheme: 'jwks_uri', id: options.issuer, dwk: options.dwk, kid: key.kid },
        clock: options.clock,
      },
    );
    try {
      return await options.fetch(url, {
        method: 'GET',
        headers: { ...signed },
        accept: 'application/json',
        maxBytes,
        timeoutMs,
      });
    } catch (err) {
      if (err instanceof DiscoveryError && err.reason === 'egress') {
        throw new InvalidResourceToken('The resource token r3_uri is not an address this server fetches.', {
          cause: err,
        });
      }
      if (err instanceof DiscoveryError) {
        throw new TemporarilyUnavailable('The R3 document could not be fetched from the resource.', {
          cause: err,
        });
      }
      throw err;
    }
  }

  return {
    async fetch(reference, resource) {
      if (originOf(reference.r3_uri) !== originOf(resource)) {
        throw new InvalidResourceToken("The resource token r3_uri is not on the resource's origin.");
      }
      const hit = cache.get(reference.r3_s256);
      if (hit !== undefined) return { ...reference, document: hit, cached: true };
      const response = await get(reference.r3_uri);
      if (response.status >= 500) {
        throw new TemporarilyUnavailable(`The resource answered ${response.status} for the R3 document.`);
      }
      if (response.status !== 200) {
        throw new InvalidResourceToken(`The resource refused the R3 document (${response.status}).`);
      }
      // §Hash Verification / §AS Processing step 3: the bytes as received, never a re-serialization.
      let document: R3Document;
      try {
        document = verifyR3Document(response.body, reference.r3_s256).document;
      } catch (err) {
        if (!(err instanceof R3Error)) throw err;
        const detail =
          err.reason === 'hash_mismatch'
            ? 'The R3 document does not match r3_s256.'
            : `The R3 document is not valid: ${err.detail ?? err.reason}.`;
        throw new InvalidResourceToken(detail, { cause: err });
      }
      cache.set(reference.r3_s256, document);
      return { ...reference, document, cached: false };
    },
  };
}
