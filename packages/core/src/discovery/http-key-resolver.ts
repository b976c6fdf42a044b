import { LRUCache } from 'lru-cache';
import { type Clock, systemClock } from '../clock.js';
import type { EgressPolicy } from '../egress/address-policy.js';
import { isHostAllowListed } from '../egress/address-policy.js';
import type { HostResolver } from '../egress/admission.js';
import { createGuardedFetch, type EgressConnector, type GuardedFetch } from '../egress/guarded-fetch.js';
import { type IdentifierPolicy, isServerIdentifier } from '../identifiers.js';
import { importPublicJwk, KeyCheckError, type VerificationKey } from '../jwk.js';
import { type AAuthMetadata, buildWellKnownUrl, validateMetadata } from './metadata.js';
import { DiscoveryError, type IssuerKeyResolver, type ResolveKeyOptions } from './types.js';

/**
 * Key discovery over HTTP (§JWKS Discovery and Caching, Signature-Key §3.6, §7.2): metadata at
 * `{iss}/.well-known/{dwk}`, then the JWKS at its `jwks_uri`, each through egress admission and a
 * bounded cache. Every cache key is attacker-chosen (`iss`, `dwk`, `kid` come from the presenter), so
 * every cache is an LRU and every fetch obeys the once-per-minute floor, failures included.
 */

export interface HttpKeyResolverOptions {
  readonly policy: EgressPolicy;
  /** The guarded fetch; built from `policy`, `resolve` and `connect` when absent. */
  readonly fetch?: GuardedFetch;
  readonly resolve?: HostResolver;
  readonly connect?: EgressConnector;
  readonly clock?: Clock;
  /**
   * A `jwks_uri` on another host than the metadata (Signature-Key §7.3): `true` admits any, a list
   * admits those hosts. Hosts named in `AAUTH_EGRESS_ALLOW` are admitted too.
   */
  readonly allowCrossOriginJwks?: boolean | readonly string[];
  /** Bound of each cache (metadata, JWKS), default 1000. */
  readonly maxEntries?: number;
  /** Lifetime when the response names none, default 300 s. */
  readonly defaultTtlSeconds?: number;
  /** Lower bound of a lifetime, default 60 s (a shorter one would only meet the refetch floor). */
  readonly minTtlSeconds?: number;
  /** Upper bound of a lifetime and of serving a stale copy, default and maximum 24 h. */
  readonly maxTtlSeconds?: number;
}

/** §JWKS Discovery and Caching: "MUST NOT fetch a given issuer's JWKS more frequently than once per minute". */
export const JWKS_REFETCH_FLOOR_MS = 60_000;
const DAY_MS = 86_400_000;

interface Cached<T> {
  readonly value: T;
  readonly fetchedAt: number;
  readonly freshUntil: number;
}

interface Loaded<T> {
  readonly value: T;
  readonly ttlMs: number;
}

/** What is known of one URL: the last fetch attempt, its failure, and the last good copy. */
interface Slot<T> {
  readonly attemptedAt: number;
  readonly error?: unknown;
  readonly cached?: Cached<T>;
}

interface CacheLimits {
  readonly clock: Clock;
  readonly maxEntries: number;
  readonly maxAgeMs: number;
}

/** Fetches in flight at once across all URLs; beyond it a caller fails fast instead of queueing. */
const MAX_INFLIGHT = 256;

/**
 * A keyed cache of fetched documents: fresh entries are served as is; an expired one (or a forced
 * refresh) triggers at most one fetch per key per minute, shared by concurrent callers; a failed
 * fetch falls back to the previous copy until it is `maxAgeMs` old, and is itself remembered for the
 * minute so a failing issuer is not hammered. The floor holds for every key still in the LRU.
 */
class FetchCache<T> {
  private readonly slots: LRUCache<string, Slot<T>>;
  private readonly inflight = new Map<string, Promise<Cached<T>>>();

  constructor(private readonly limits: CacheLimits) {
    this.slots = new LRUCache({ max: limits.maxEntries });
  }

  async get(key: string, load: () => Promise<Loaded<T>>, force: boolean): Promise<Cached<T>> {
    const now = this.limits.clock.now();
    const slot = this.slots.get(key);
    let entry = slot?.cached;
    if (entry && now - entry.fetchedAt >= this.limits.maxAgeMs) entry = undefined;
    if (entry && !force && now < entry.freshUntil) return entry;

    let pending = this.inflight.get(key);
    if (!pending) {
      if (slot && now - slot.attemptedAt < JWKS_REFETCH_FLOOR_MS) {
        if (entry) return entry;
        throw slot.error ?? new DiscoveryError('network', 'fetch attempted less than a minute ago');
      }
      if (this.inflight.size >= MAX_INFLIGHT)
        throw new DiscoveryError('network', 'too many discovery fetches in flight');
      pending = this.start(key, load, now, entry);
    }
    try {
      return await pending;
    } catch (error) {
      if (entry) return entry;
      throw error;
    }
  }

  private start(
    key: string,
    load: () => Promise<Loaded<T>>,
    now: number,
    previous: Cached<T> | undefined,
  ): Promise<Cached<T>> {
    this.slots.set(key, previous ? { attemptedAt: now, cached: previous } : { attemptedAt: now });
    const pending = load().then(
      ({ value, ttlMs }) => {
        const fetchedAt = this.limits.clock.now();
        const cached: Cached<T> = { value, fetchedAt, freshUntil: fetchedAt + ttlMs };
        this.slots.set(key, { attemptedAt: now, cached });
        return cached;
      },
      (error: unknown) => {
        this.slots.set(
          key,
          previous ? { attemptedAt: now, error, cached: previous } : { attemptedAt: now, error },
        );
        throw error;
      },
    );
    this.inflight.set(key, pending);
    // Cleared on either outcome; the rejection itself is observed by the awaiting callers.
    pending.then(
      () => this.inflight.delete(key),
      () => this.inflight.delete(key),
    );
    return pending;
  }
}

/** A JWKS indexed by `kid`, with the keys imported so far (the (jwks_uri, kid) key cache). */
interface JwksIndex {
  readonly members: ReadonlyMap<string, readonly unknown[]>;
  readonly imported: Map<string, VerificationKey | DiscoveryError>;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseJson(body: Buffer, what: string): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (cause) {
    throw new DiscoveryError('network', `${what} is not JSON`, { cause });
  }
}

const HTTP_DATE = /^[A-Za-z]{3}, \d{2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/;

/**
 * The lifetime a response asks for: `Cache-Control: max-age`, else `Expires` (against `Date` when
 * present), else the default; `no-store`/`no-cache` count as zero. Clamped to [min, max] by the caller.
 */
export function responseLifetimeMs(
  headers: Readonly<Record<string, string>>,
  now: number,
  defaultMs: number,
): number {
  const cacheControl = headers['cache-control'];
  if (cacheControl !== undefined) {
    let maxAge: number | undefined;
    for (const directive of cacheControl.toLowerCase().split(',')) {
      const [name = '', value] = directive.trim().split('=', 2);
      if (name === 'no-store' || name === 'no-cache') return 0;
      if (name === 'max-age' && value !== undefined) {
        const seconds = value.replace(/^"(.*)"$/, '$1');
        if (/^\d+$/.test(seconds)) maxAge = Number(seconds) * 1000;
      }
    }
    if (maxAge !== undefined) return maxAge;
  }
  const expires = headers.expires;
  if (expires !== undefined) {
    // RFC 9111 §5.3: an invalid date (e.g. "0") means already expired.
    const at = HTTP_DATE.test(expires) ? Date.parse(expires) : Number.NaN;
    if (Number.isNaN(at)) return 0;
    const date =
      headers.date !== undefined && HTTP_DATE.test(headers.date) ? Date.parse(headers.date) : Number.NaN;
    return Math.max(0, at - (Number.isNaN(date) ? now : date));
  }
  return defaultMs;
}

function mapKeyError(error: unknown): DiscoveryError {
  if (
    error instanceof KeyCheckError &&
    (error.problem === 'missing_alg' || error.problem === 'unsupported')
  ) {
    return new DiscoveryError('unsupported_key', error.message, { cause: error });
  }
  return new DiscoveryError('key', error instanceof Error ? error.message : 'key is not usable', {
    cause: error,
  });
}

/** Algorithm Determination on the selected member(s); the first usable one wins. */
function importSelected(index: JwksIndex, kid: string): VerificationKey {
  const cached = index.imported.get(kid);
  if (cached instanceof DiscoveryError) throw cached;
  if (cached) return cached;
  const candidates = index.members.get(kid) ?? [];
  let failure: DiscoveryError | undefined;
  for (const member of candidates) {
    try {
      const key = importPublicJwk(member);
      index.imported.set(kid, key);
      return key;
    } catch (error) {
      failure ??= mapKeyError(error);
    }
  }
  const error = failure ?? new DiscoveryError('unknown_key', 'no key with this kid');
  index.imported.set(kid, error);
  throw error;
}

export function createHttpKeyResolver(options: HttpKeyResolverOptions): IssuerKeyResolver {
  const { policy } = options;
  const clock = options.clock ?? systemClock;
  const identifierPolicy: IdentifierPolicy = { devMode: policy.devMode };
  const fetch =
    options.fetch ??
    createGuardedFetch({
      policy,
      ...(options.resolve ? { resolve: options.resolve } : {}),
      ...(options.connect ? { connect: options.connect } : {}),
    });
  const maxAgeMs = Math.min((options.maxTtlSeconds ?? 86_400) * 1000, DAY_MS);
  const minTtlMs = Math.min((options.minTtlSeconds ?? 60) * 1000, maxAgeMs);
  const defaultTtlMs = (options.defaultTtlSeconds ?? 300) * 1000;
  const limits: CacheLimits = { clock, maxEntries: options.maxEntries ?? 1000, maxAgeMs };
  const metadataCache = new FetchCache<AAuthMetadata>(limits);
  const jwksCache = new FetchCache<JwksIndex>(limits);
  const crossOrigin = options.allowCrossOriginJwks ?? false;

  function lifetime(headers: Readonly<Record<string, string>>): number {
    const ms = responseLifetimeMs(headers, clock.now(), defaultTtlMs);
    return Math.min(Math.max(ms, minTtlMs), maxAgeMs);
  }

  async function fetchOk(url: string, accept: string, what: string) {
    const response = await fetch(url, { accept });
    if (response.status !== 200) throw new DiscoveryError('network', `${what} answered ${response.status}`);
    return response;
  }

  function loadMetadata(iss: string, dwk: string) {
    return async (): Promise<Loaded<AAuthMetadata>> => {
      const response = await fetchOk(buildWellKnownUrl(iss, dwk), 'application/json', 'metadata');
      const document = validateMetadata(parseJson(response.body, 'metadata'), iss, dwk, identifierPolicy);
      return { value: document, ttlMs: lifetime(response.headers) };
    };
  }

  function loadJwks(jwksUri: string) {
    return async (): Promise<Loaded<JwksIndex>> => {
      const response = await fetchOk(jwksUri, 'application/jwk-set+json, application/json', 'JWKS');
      const document = parseJson(response.body, 'JWKS');
      if (!isRecord(document) || !Array.isArray(document.keys)) {
        throw new DiscoveryError('network', 'JWKS has no keys array');
      }
      // Index by kid only: members we cannot use are never looked at unless selected.
      const members = new Map<string, unknown[]>();
      for (const member of document.keys) {
        if (!isRecord(member) || typeof member.kid !== 'string') continue;
        const list = members.get(member.kid);
        if (list) list.push(member);
        else members.set(member.kid, [member]);
      }
      return { value: { members, imported: new Map() }, ttlMs: lifetime(response.headers) };
    };
  }

  async function metadata(iss: string, dwk: string): Promise<AAuthMetadata> {
    if (!isServerIdentifier(iss, identifierPolicy)) {
      throw new DiscoveryError('egress', 'issuer is not a server identifier');
    }
    const url = buildWellKnownUrl(iss, dwk);
    return (await metadataCache.get(url, loadMetadata(iss, dwk), false)).value;
  }

  function checkJwksOrigin(iss: string, jwksUri: string): void {
    const jwksHost = new URL(jwksUri).hostname;
    if (jwksHost === new URL(iss).hostname) return;
    const admitted =
      crossOrigin === true ||
      (Array.isArray(crossOrigin) && crossOrigin.includes(jwksHost)) ||
      isHostAllowListed(policy, jwksHost);
    if (!admitted) throw new DiscoveryError('egress', 'cross-origin jwks_uri is not admitted');
  }

  async function resolveKey(
    iss: string,
    dwk: string,
    kid: string,
    resolveOptions: ResolveKeyOptions = {},
  ): Promise<VerificationKey> {
    const document = await metadata(iss, dwk);
    const jwksUri = document.jwks_uri;
    if (typeof jwksUri !== 'string') throw new DiscoveryError('metadata', 'metadata has no jwks_uri');
    checkJwksOrigin(iss, jwksUri);
    const refresh = resolveOptions.refresh === true;
    let jwks = await jwksCache.get(jwksUri, loadJwks(jwksUri), refresh);
    if (!refresh && !jwks.value.members.has(kid)) {
      // Unknown kid: the issuer may have rotated; one refetch, subject to the floor.
      jwks = await jwksCache.get(jwksUri, loadJwks(jwksUri), true);
    }
    if (!jwks.value.members.has(kid)) throw new DiscoveryError('unknown_key', 'no key with this kid');
    return importSelected(jwks.value, kid);
  }

  return { resolveKey, metadata };
}
