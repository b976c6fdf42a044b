import type { IncomingHttpHeaders } from 'node:http';
import { Agent, buildConnector, type Dispatcher, request } from 'undici';
import { DiscoveryError } from '../discovery/types.js';
import type { EgressPolicy } from './address-policy.js';
import { type AdmittedUrl, admitUrl, type HostResolver } from './admission.js';

/**
 * The only way core fetches over the network (ARCHITECTURE.md *Outbound fetches*): every hop is
 * admitted, the socket goes to the admitted address (no second DNS lookup), TLS ≥ 1.2 with the host
 * name as SNI and certificate name, redirects only to the same host, bounded size and time.
 */

export const EGRESS_MAX_BYTES = 256 * 1024;
export const EGRESS_TIMEOUT_MS = 5_000;
export const EGRESS_MAX_REDIRECTS = 3;

/** undici's connector signature; tests inject one that dials a loopback server. */
export type EgressConnector = buildConnector.connector;

export interface GuardedFetchOptions {
  readonly policy: EgressPolicy;
  readonly resolve?: HostResolver;
  /** Replaces the TLS/TCP connector (tests). It receives the admitted address as `hostname`. */
  readonly connect?: EgressConnector;
  /** Extra trust anchors (PEM), e.g. the TLS front of a compose deployment. */
  readonly ca?: string | readonly string[];
  readonly maxBytes?: number;
  readonly timeoutMs?: number;
  readonly maxRedirects?: number;
  readonly userAgent?: string;
}

export interface GuardedFetchRequest {
  /** Default `GET`. A request with a body is never redirected: a 3xx is returned as the answer. */
  readonly method?: 'GET' | 'POST' | 'DELETE';
  /** Request headers (lowercase names); `accept` below wins for that one header. */
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: Uint8Array;
  readonly accept?: string;
  readonly maxBytes?: number;
  readonly timeoutMs?: number;
}

export interface GuardedResponse {
  readonly status: number;
  /** Lowercase names; repeated fields joined with `, `. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
  /** The URL that answered (after same-host redirects). */
  readonly url: string;
}

export type GuardedFetch = (url: string, request?: GuardedFetchRequest) => Promise<GuardedResponse>;

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** Bounds a step (DNS resolution) that takes no signal by the fetch's overall deadline. */
function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

function flattenHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/** Drops a body we will not read; undici reports the abort as a stream error, which is expected here. */
function discard(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => undefined);
  body.destroy();
}

function pinnedConnector(base: EgressConnector, admitted: AdmittedUrl): EgressConnector {
  return (options, callback) => {
    // `host` keeps the original name, so undici derives SNI and the session key from it; only the
    // dialled address changes.
    base({ ...options, hostname: admitted.address }, callback);
  };
}

export function createGuardedFetch(options: GuardedFetchOptions): GuardedFetch {
  const defaultMaxBytes = options.maxBytes ?? EGRESS_MAX_BYTES;
  const defaultTimeout = options.timeoutMs ?? EGRESS_TIMEOUT_MS;
  const maxRedirects = options.maxRedirects ?? EGRESS_MAX_REDIRECTS;
  const ca = typeof options.ca === 'string' ? [options.ca] : options.ca;
  const baseConnect =
    options.connect ??
    buildConnector({ minVersion: 'TLSv1.2', timeout: defaultTimeout, ...(ca ? { ca: [...ca] } : {}) });
  const admission = { policy: options.policy, ...(options.resolve ? { resolve: options.resolve } : {}) };

  async function fetchOnce(
    admitted: AdmittedUrl,
    req: GuardedFetchRequest,
    maxBytes: number,
    signal: AbortSignal,
  ): Promise<GuardedResponse> {
    const agent = new Agent({
      connect: pinnedConnector(baseConnect, admitted),
      connections: 1,
      pipelining: 1,
    });
    try {
      const response = await request(admitted.url, {
        dispatcher: agent,
        method: req.method ?? 'GET',
        headers: {
          ...req.headers,
          accept: req.accept ?? req.headers?.accept ?? 'application/json',
          ...(options.userAgent ? { 'user-agent': options.userAgent } : {}),
        },
        ...(req.body ? { body: req.body } : {}),
        signal,
      });
      const headers = flattenHeaders(response.headers);
      if (REDIRECTS.has(response.statusCode)) {
        discard(response.body);
        return { status: response.statusCode, headers, body: Buffer.alloc(0), url: admitted.url.href };
      }
      const declared = Number(headers['content-length']);
      if (Number.isFinite(declared) && declared > maxBytes) {
        discard(response.body);
        throw new DiscoveryError('network', `response larger than ${maxBytes} bytes`);
      }
      const chunks: Buffer[] = [];
      let total = 0;
      for await (const chunk of response.body) {
        const buffer = chunk as Buffer;
        total += buffer.length;
        if (total > maxBytes) {
          discard(response.body);
          throw new DiscoveryError('network', `response larger than ${maxBytes} bytes`);
        }
        chunks.push(buffer);
      }
      return {
        status: response.statusCode,
        headers,
        body: Buffer.concat(chunks, total),
        url: admitted.url.href,
      };
    } finally {
      await agent.destroy().catch(() => undefined);
    }
  }

  return async function guardedFetch(url, req = {}) {
    const maxBytes = req.maxBytes ?? defaultMaxBytes;
    const timeoutMs = req.timeoutMs ?? defaultTimeout;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    try {
      let admitted = await raceAbort(admitUrl(url, admission), controller.signal);
      for (let hop = 0; ; hop++) {
        const response = await fetchOnce(admitted, req, maxBytes, controller.signal);
        const location = response.headers.location;
        // A signed request is bound to its @authority and @path: following a redirect could not help it.
        if (!REDIRECTS.has(response.status) || location === undefined || req.body) return response;
        if (hop >= maxRedirects) throw new DiscoveryError('network', 'too many redirects');
        let next: URL;
        try {
          next = new URL(location, admitted.url);
        } catch (cause) {
          throw new DiscoveryError('network', 'redirect Location is not a URL', { cause });
        }
        if (next.hostname !== admitted.url.hostname) {
          throw new DiscoveryError('egress', 'redirect to another host is not followed');
        }
        admitted = await raceAbort(admitUrl(next, admission), controller.signal);
      }
    } catch (cause) {
      if (cause instanceof DiscoveryError) throw cause;
      const message = controller.signal.aborted ? `no response within ${timeoutMs} ms` : 'fetch failed';
      throw new DiscoveryError('network', message, { cause });
    } finally {
      clearTimeout(timer);
    }
  };
}
