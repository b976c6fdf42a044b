import {
  type Clock,
  computeContentDigest,
  type KeyPair,
  type SignatureKeyMember,
  serializeSignatureKey,
  signBytes,
} from '@aauth-ref/core';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';

/**
 * A request signer with every knob exposed, for forgeries the regular signer refuses to produce:
 * components left out, another label, `created` in the past or future, extra parameters, a body
 * other than the one digested. The signature base follows RFC 9421 §2.5 for plain components.
 */

export interface ForgeOptions {
  readonly method: string;
  /** Path and query. */
  readonly path: string;
  /** The server's public identifier (gives `@authority`). */
  readonly issuer: string;
  readonly headers?: Record<string, string>;
  /** Objects are sent as JSON with `Content-Type: application/json`; strings and buffers as they are. */
  readonly body?: unknown;
  readonly key: Pick<KeyPair, 'alg' | 'privateKey'>;
  /** A JWT (sent as `jwt;jwt="…"`), any member, or the raw member text after `label=`. */
  readonly signatureKey: string | SignatureKeyMember | { readonly raw: string };
  readonly clock: Clock;
  /** Label of Signature-Input and Signature (default `sig`). */
  readonly label?: string;
  /** Label of the Signature-Key member (default: `label`). */
  readonly keyLabel?: string;
  /** Covered components, in order (default: the profile's, plus the body's when there is a body). */
  readonly components?: readonly string[];
  /** Seconds added to the clock for `created` (negative: in the past). */
  readonly createdOffset?: number;
  /** `created` omitted from the parameters. */
  readonly omitCreated?: boolean;
  /** Raw parameter text appended after `created` (e.g. `;expires=1` or `;keyid="x"`). */
  readonly extraParams?: string;
  /** `Content-Digest` to send instead of the computed one; `null` leaves it out. */
  readonly contentDigest?: string | null;
  /** The body actually sent, when it differs from the one signed and digested. */
  readonly sentBody?: Buffer;
}

export interface ForgedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: Buffer | undefined;
}

function encodeBody(body: unknown, headers: Record<string, string>): Buffer | undefined {
  if (body === undefined) return undefined;
  if (typeof body === 'string') return Buffer.from(body);
  if (body instanceof Uint8Array) return Buffer.from(body);
  headers['content-type'] ??= 'application/json';
  return Buffer.from(JSON.stringify(body));
}

function signatureKeyMemberText(value: ForgeOptions['signatureKey'], label: string): string {
  if (typeof value === 'object' && 'raw' in value) return `${label}=${value.raw}`;
  const member: SignatureKeyMember = typeof value === 'string' ? { scheme: 'jwt', jwt: value } : value;
  return serializeSignatureKey(new Map([[label, member]]));
}

export function forgeRequest(options: ForgeOptions): ForgedRequest {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(options.headers ?? {})) headers[name.toLowerCase()] = value;
  const body = encodeBody(options.body, headers);
  const label = options.label ?? 'sig';
  headers['signature-key'] = signatureKeyMemberText(options.signatureKey, options.keyLabel ?? label);
  if (body !== undefined && body.length > 0) {
    if (options.contentDigest !== null) {
      headers['content-digest'] = options.contentDigest ?? computeContentDigest(body);
    }
  }
  const components =
    options.components ??
    (body !== undefined && body.length > 0
      ? ['@method', '@authority', '@path', 'signature-key', 'content-type', 'content-digest']
      : ['@method', '@authority', '@path', 'signature-key']);
  const url = new URL(options.path, options.issuer);
  const created = Math.floor(options.clock.now() / 1000) + (options.createdOffset ?? 0);
  const params = `(${components.map((c) => `"${c}"`).join(' ')})${
    options.omitCreated ? '' : `;created=${created}`
  }${options.extraParams ?? ''}`;
  const lines = components.map((component) => {
    const value =
      component === '@method'
        ? options.method
        : component === '@authority'
          ? url.host
          : component === '@path'
            ? url.pathname
            : component === '@query'
              ? url.search || '?'
              : component === '@target-uri'
                ? url.href
                : (headers[component] ?? '');
    return `"${component}": ${value}`;
  });
  lines.push(`"@signature-params": ${params}`);
  const signature = signBytes(options.key, Buffer.from(lines.join('\n'), 'utf8')).toString('base64');
  headers['signature-input'] = `${label}=${params}`;
  headers.signature = `${label}=:${signature}:`;
  return {
    method: options.method,
    path: options.path,
    headers,
    body: options.sentBody ?? body,
  };
}

/** Sends a forged (or mutated) request with `Host` set to the issuer's authority. */
export function injectForged(
  app: FastifyInstance,
  issuer: string,
  request: ForgedRequest,
): Promise<LightMyRequestResponse> {
  return app.inject({
    method: request.method as 'GET',
    url: request.path,
    headers: { host: new URL(issuer).host, ...request.headers },
    ...(request.body === undefined ? {} : { payload: request.body }),
  });
}

// --- Mutations of a built request --------------------------------------------------------------------

export function withHeaders(
  request: ForgedRequest,
  patch: Record<string, string | undefined>,
): ForgedRequest {
  const headers = { ...request.headers };
  for (const [name, value] of Object.entries(patch)) {
    if (value === undefined) delete headers[name];
    else headers[name] = value;
  }
  return { ...request, headers };
}

/** Flips one bit of the signature bytes (`bit` counts from the first byte). */
export function flipSignatureBit(request: ForgedRequest, bit = 0): ForgedRequest {
  const match = /^([^=]+)=:([^:]*):$/.exec(request.headers.signature ?? '');
  if (!match) throw new Error('not a single-member Signature');
  const bytes = Buffer.from(match[2]!, 'base64');
  bytes[bit >> 3]! ^= 1 << (bit & 7);
  return withHeaders(request, { signature: `${match[1]}=:${bytes.toString('base64')}:` });
}

/** Flips one bit of a compact JWT's signature part. */
export function flipJwtSignature(jwt: string): string {
  const [header, payload, signature] = jwt.split('.');
  const bytes = Buffer.from(signature!, 'base64url');
  bytes[0]! ^= 1;
  return `${header}.${payload}.${bytes.toString('base64url')}`;
}

/** Replaces the payload of a compact JWT, keeping the original signature (a tampered claim). */
export function tamperJwt(jwt: string, change: (claims: Record<string, unknown>) => void): string {
  const [header, payload, signature] = jwt.split('.');
  const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString('utf8')) as Record<string, unknown>;
  change(claims);
  return `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`;
}

export function decodeClaims(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}
