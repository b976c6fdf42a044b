import { serializeDictionary } from 'structured-headers';
import { epochSeconds } from '../clock.js';
import { computeContentDigest } from '../content-digest.js';
import { serializeSignatureKey } from '../headers/signature-key.js';
import { signBytes } from '../jwk.js';
import {
  BODY_COMPONENTS,
  buildSignatureBase,
  buildSignatureParams,
  hasAAuthAuthorization,
  hasBody,
  normalizeHeaders,
  PROFILE_COMPONENTS,
} from './components.js';
import type { SignedRequestInput, SignRequestOptions } from './types.js';

/** Headers `signRequest` adds to the request (lowercase names). */
export interface SignatureHeaders {
  readonly 'signature-input': string;
  readonly signature: string;
  readonly 'signature-key': string;
  /** Present when the request has a body and did not already carry `Content-Digest`. */
  readonly 'content-digest'?: string;
}

/**
 * Signs a request under the AAuth profile (§Signing (Agent)): label `sig`, covered components
 * `@method @authority @path signature-key`, plus `content-type content-digest` when there is a body,
 * `authorization` when `Authorization: AAuth` is sent (§AAuth-Access Response Header) and any
 * `additionalComponents`; parameters `created` and optional `expires`. No `alg` (the key determines
 * it, §Signature Parameters) and no `keyid` (the key is identified by `Signature-Key`).
 *
 * Throws `TypeError` when a covered header (e.g. `content-type` with a body) is absent.
 */
export function signRequest(request: SignedRequestInput, options: SignRequestOptions): SignatureHeaders {
  const label = options.label ?? 'sig';
  const headers = normalizeHeaders(request.headers);
  const components = [...PROFILE_COMPONENTS];
  let contentDigest: string | undefined;
  if (hasBody(request.body)) {
    if (!headers.has('content-type'))
      throw new TypeError('a request with a body needs a Content-Type to sign');
    if (!headers.has('content-digest')) {
      contentDigest = computeContentDigest(request.body);
      headers.set('content-digest', contentDigest);
    }
    components.push(...BODY_COMPONENTS);
  }
  if (hasAAuthAuthorization(headers)) components.push('authorization');
  for (const component of options.additionalComponents ?? []) {
    if (!components.includes(component)) components.push(component);
  }

  const signatureKey = serializeSignatureKey(new Map([[label, options.signatureKey]]));
  headers.set('signature-key', signatureKey);

  const created = epochSeconds(options.clock);
  const expires = options.expiresInSeconds === undefined ? undefined : created + options.expiresInSeconds;
  const params = buildSignatureParams(components, created, expires);
  let base: string;
  try {
    base = buildSignatureBase(request, headers, params);
  } catch (cause) {
    throw new TypeError('a covered component is missing from the request to sign', { cause });
  }
  const signature = signBytes(options.key, Buffer.from(base, 'utf8'));
  const result: SignatureHeaders = {
    'signature-input': serializeDictionary(new Map([[label, params]])),
    signature: serializeDictionary(new Map([[label, [signature, new Map()]]])),
    'signature-key': signatureKey,
  };
  return contentDigest === undefined ? result : { ...result, 'content-digest': contentDigest };
}
