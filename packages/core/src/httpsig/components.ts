import { httpbis } from 'http-message-signatures';
import { type InnerList, type Item, serializeInnerList, serializeItem } from 'structured-headers';
import { InvalidSignature } from '../errors.js';
import type { RouteSignaturePolicy, SignedRequestInput } from './types.js';

/**
 * Covered components of the profile (§Covered Components) and the RFC 9421 signature base.
 *
 * The base is built by `http-message-signatures` (RFC 9421 component derivation, reproduces
 * Appendix B byte-exact); `@signature-params` is the re-serialized Inner List of the label being
 * verified (RFC 9421 §2.3), serialized here so a parsed Token stays a Token.
 */

/** Components every AAuth request signature covers (§Covered Components). */
export const PROFILE_COMPONENTS: readonly string[] = ['@method', '@authority', '@path', 'signature-key'];

/** Components a body to a PS or AS endpoint adds (§Covered Components). */
export const BODY_COMPONENTS: readonly string[] = ['content-type', 'content-digest'];

/** Request headers, lowercased, multiple field lines combined with `, ` (RFC 9110 §5.3). */
export type HeaderMap = ReadonlyMap<string, string>;

export function normalizeHeaders(headers: SignedRequestInput['headers']): Map<string, string> {
  const map = new Map<string, string>();
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    // RFC 9421 §2.1: each field line's value is trimmed, then the lines are joined with `, `.
    const combined = typeof value === 'string' ? value.trim() : value.map((line) => line.trim()).join(', ');
    const lower = name.toLowerCase();
    const previous = map.get(lower);
    map.set(lower, previous === undefined ? combined : `${previous}, ${combined}`);
  }
  return map;
}

/** `Authorization: AAuth …` (§AAuth-Access Response Header): auth-scheme names are case-insensitive. */
export function hasAAuthAuthorization(headers: HeaderMap): boolean {
  const value = headers.get('authorization');
  return value !== undefined && /^aauth(?:[ \t]|$)/i.test(value.trimStart());
}

export function hasBody(body: Uint8Array | undefined): body is Uint8Array {
  return body !== undefined && body.byteLength > 0;
}

/** The components this route requires of this request, in the order `required_input` lists them. */
export function requiredComponents(
  headers: HeaderMap,
  body: Uint8Array | undefined,
  policy: RouteSignaturePolicy,
): string[] {
  const required = [...PROFILE_COMPONENTS];
  if (policy.requireBodyComponents && hasBody(body)) required.push(...BODY_COMPONENTS);
  if (hasAAuthAuthorization(headers)) required.push('authorization');
  for (const component of policy.additionalComponents ?? []) {
    if (!required.includes(component)) required.push(component);
  }
  return required;
}

/** Component parameters RFC 9421 defines for request components this verifier derives. */
const REQUEST_COMPONENT_PARAMS = new Set(['sf', 'key', 'bs', 'name']);

/**
 * RFC 9421 §2.2.1: "no transformation to the input method value's case is performed" — the library
 * upper-cases it, which would let `post` verify a signature made over `POST`.
 */
function deriveMethodVerbatim(method: string) {
  return (name: string): string[] | null => (name === '@method' ? [method] : null);
}

function parseRequestUrl(url: string): URL {
  try {
    return new URL(url);
  } catch (cause) {
    throw new InvalidSignature('The request target is not a valid URL.', { cause });
  }
}

/** Derived components the fast path computes itself (RFC 9421 §2.2), from the absolute request URL. */
function deriveComponent(name: string, method: string, url: URL): string | undefined {
  switch (name) {
    case '@method':
      // §2.2.1: "no transformation to the input method value's case is performed".
      return method;
    case '@authority':
      // §2.2.3: lowercase host, default port omitted — exactly what URL#host yields.
      return url.host;
    case '@path':
      return url.pathname === '' ? '/' : url.pathname;
    case '@target-uri':
      return url.href;
    case '@scheme':
      return url.protocol.slice(0, -1);
    case '@request-target':
      return `${url.pathname}${url.search}`;
    case '@query':
      return url.search === '' ? '?' : url.search;
    default:
      return undefined;
  }
}

/** What `@authority` and `@path` are derived from (RFC 9421 §2.2.3, §2.2.6). */
export interface RequestTarget {
  readonly host: string;
  readonly pathname: string;
}

// A lowercase DNS name whose last label starts with a letter (a numeric last label would be read as
// IPv4 and rewritten by the URL parser), an optional port without leading zero, a path of characters
// the URL parser copies unchanged (no `%`, so no encoded dot segment either), any query, no fragment.
const PLAIN_URL =
  /^(https?):\/\/((?:[a-z0-9-]+\.)*[a-z][a-z0-9-]*)(?::([1-9][0-9]{0,4}))?(\/[A-Za-z0-9\-._~!$&'()*+,;=:@/]*)?(?:\?[^#\s]*)?$/;
const DOT_SEGMENT = /\/\.{1,2}(?:\/|$)/;
const DEFAULT_PORTS: Readonly<Record<string, string>> = { http: '80', https: '443' };

/**
 * `host` and `pathname` exactly as `new URL(url)` would give them, read directly from the plain
 * absolute URLs requests arrive with (the verify hook builds them from the configured origin);
 * `undefined` for anything else, which the URL parser then handles. Property-tested against it.
 */
export function readPlainTarget(url: string): RequestTarget | undefined {
  const match = PLAIN_URL.exec(url);
  if (match === null) return undefined;
  const [, scheme, host, port, path] = match as unknown as [string, string, string, string?, string?];
  if (port !== undefined && (Number(port) > 65_535 || port === DEFAULT_PORTS[scheme])) return undefined;
  if (path !== undefined && DOT_SEGMENT.test(path)) return undefined;
  return { host: port === undefined ? host : `${host}:${port}`, pathname: path ?? '/' };
}

/**
 * The signature base built directly (RFC 9421 §2.5) when every covered component is a bare
 * derived component we derive above or a bare header field — which is every signature AAuth
 * agents and servers produce. Returns `undefined` to hand anything else (component parameters,
 * `@query-param`, …) to the library.
 */
function buildPlainSignatureBase(
  request: Pick<SignedRequestInput, 'method' | 'url'>,
  headers: HeaderMap,
  signatureParams: InnerList,
  serializedParams: string | undefined,
): string | undefined {
  let url: URL | undefined;
  let target: RequestTarget | undefined;
  let base = '';
  const seen = new Set<string>();
  for (const [name, params] of signatureParams[0]) {
    if (typeof name !== 'string' || params.size > 0) return undefined;
    if (seen.has(name)) throw new InvalidSignature('Signature-Input covers a component twice.');
    seen.add(name);
    let value: string | undefined;
    if (name.startsWith('@')) {
      if (name === '@signature-params') {
        throw new InvalidSignature('Signature-Input names a component that cannot be covered.');
      }
      if (name === '@authority' || name === '@path') {
        if (target === undefined) {
          target = readPlainTarget(request.url);
          if (target === undefined) {
            url ??= parseRequestUrl(request.url);
            target = url;
          }
        }
        value = name === '@authority' ? target.host : target.pathname === '' ? '/' : target.pathname;
      } else {
        url ??= parseRequestUrl(request.url);
        value = deriveComponent(name, request.method, url);
        if (value === undefined) return undefined;
      }
    } else {
      if (name !== name.toLowerCase()) return undefined;
      value = headers.get(name);
      if (value === undefined) throw new InvalidSignature('A covered header field is absent.');
    }
    base += `"${name}": ${value}\n`;
  }
  return `${base}"@signature-params": ${serializedParams ?? serializeInnerList(signatureParams)}`;
}

/**
 * The RFC 9421 signature base for a covered-component Inner List. Throws `InvalidSignature` when a
 * covered component cannot be derived from this request (absent header, unknown derived
 * component, response-only parameter) — RFC 9421 §3.2 step 3 fails verification then.
 */
export function buildSignatureBase(
  request: Pick<SignedRequestInput, 'method' | 'url'>,
  headers: HeaderMap,
  signatureParams: InnerList,
  serializedParams?: string,
): string {
  const plain = buildPlainSignatureBase(request, headers, signatureParams, serializedParams);
  if (plain !== undefined) return plain;
  const fields: string[] = [];
  const seen = new Set<string>();
  for (const item of signatureParams[0]) {
    const [name, params] = item;
    if (typeof name !== 'string' || name === '@signature-params') {
      throw new InvalidSignature('Signature-Input names a component that cannot be covered.');
    }
    for (const param of params.keys()) {
      if (!REQUEST_COMPONENT_PARAMS.has(param)) {
        throw new InvalidSignature(
          'Signature-Input uses a component parameter this verifier does not derive.',
        );
      }
    }
    const identifier = serializeItem(item);
    if (seen.has(identifier)) throw new InvalidSignature('Signature-Input covers a component twice.');
    seen.add(identifier);
    fields.push(identifier);
  }
  try {
    const lines = httpbis.createSignatureBase(
      { fields, componentParser: deriveMethodVerbatim(request.method) },
      { method: request.method, url: request.url, headers: Object.fromEntries(headers) },
    );
    lines.push(['"@signature-params"', [serializedParams ?? serializeInnerList(signatureParams)]]);
    return httpbis.formatSignatureBase(lines);
  } catch (cause) {
    throw new InvalidSignature('A covered component cannot be derived from the request.', { cause });
  }
}

/** Builds the Inner List for signing: bare component names, `created` and optional `expires`. */
export function buildSignatureParams(
  components: readonly string[],
  created: number,
  expires?: number,
): InnerList {
  const items: Item[] = components.map((name) => [name, new Map()]);
  const params = new Map<string, number>([['created', created]]);
  if (expires !== undefined) params.set('expires', expires);
  return [items, params];
}
