import { LRUCache } from 'lru-cache';
import {
  type Dictionary,
  type InnerList,
  isInnerList,
  parseDictionary,
  serializeItem,
} from 'structured-headers';
import { epochSeconds } from '../clock.js';
import { verifyContentDigest } from '../content-digest.js';
import {
  InvalidInput,
  InvalidSignature,
  SignatureInvalidRequest,
  UnsupportedAlgorithm,
  UnsupportedScheme,
} from '../errors.js';
import { parseSignatureKey, type SignatureKeyDictionary } from '../headers/signature-key.js';
import { SUPPORTED_ALGS, verifyBytes } from '../jwk.js';
import { buildSignatureBase, type HeaderMap, normalizeHeaders, requiredComponents } from './components.js';
import { resolveSigningKey, type VerifiableMember } from './schemes.js';
import { parseSignatureInputMember, parseSignatureMember } from './signature-fields.js';
import type {
  RouteSignaturePolicy,
  SignatureKeyMember,
  SignedRequestInput,
  VerifiableScheme,
  VerifiedRequestSignature,
  VerifierDeps,
} from './types.js';

const DEFAULT_SCHEMES: readonly VerifiableScheme[] = ['jwt'];
const DEFAULT_WINDOW_SECONDS = 60;
const DEFAULT_CREATED_SKEW_SECONDS = 5;

function parseSignatureDictionary(value: string, name: string): Dictionary {
  try {
    return parseDictionary(value);
  } catch (cause) {
    throw new SignatureInvalidRequest(`${name} is not a Structured Field Dictionary.`, { cause });
  }
}

/**
 * An agent sends the same `Signature-Key` (its token) on every request, and parsing a kilobyte of
 * Structured Field costs as much as a tenth of a signature verification; parsed values are
 * immutable, so they are memoised by the exact header text. Bounded: the keys are caller input.
 */
const SIGNATURE_KEY_CACHE_MAX_LENGTH = 16 * 1024;
const parsedSignatureKeys = new LRUCache<string, SignatureKeyDictionary>({ max: 2000 });

function parseSignatureKeyMemoised(value: string): SignatureKeyDictionary {
  if (value.length > SIGNATURE_KEY_CACHE_MAX_LENGTH) return parseSignatureKey(value);
  let parsed = parsedSignatureKeys.get(value);
  if (parsed === undefined) {
    parsed = parseSignatureKey(value);
    parsedSignatureKeys.set(value, parsed);
  }
  return parsed;
}

interface SelectedSignature {
  readonly label: string;
  readonly input: InnerList;
  readonly signature: Uint8Array;
  readonly member: SignatureKeyMember;
  /** `@signature-params` as received, when the fast path vouched that it is canonical. */
  readonly serializedInput?: string;
}

/**
 * §Verification step 1: the one label present in `Signature-Input` and `Signature` that has a
 * `Signature-Key` member. Any other label is never looked at again.
 */
function selectSignature(headers: HeaderMap): SelectedSignature {
  const rawInput = headers.get('signature-input');
  const rawSignature = headers.get('signature');
  const rawKey = headers.get('signature-key');
  if (rawInput === undefined || rawSignature === undefined || rawKey === undefined) {
    throw new SignatureInvalidRequest('Signature, Signature-Input and Signature-Key are all required.');
  }
  const keys = parseSignatureKeyMemoised(rawKey);
  // The shape every AAuth signer sends: one label in each field (signature-fields.ts).
  const fastInput = parseSignatureInputMember(rawInput);
  const fastSignature = fastInput && parseSignatureMember(rawSignature);
  if (fastInput && fastSignature && fastSignature.label === fastInput.label) {
    const member = keys.get(fastInput.label);
    if (member !== undefined) {
      return {
        label: fastInput.label,
        input: fastInput.input,
        signature: fastSignature.signature,
        member,
        serializedInput: fastInput.serialized,
      };
    }
  }
  const inputs = parseSignatureDictionary(rawInput, 'Signature-Input');
  const signatures = parseSignatureDictionary(rawSignature, 'Signature');
  let label: string | undefined;
  for (const candidate of inputs.keys()) {
    if (!signatures.has(candidate) || !keys.has(candidate)) continue;
    if (label !== undefined) {
      throw new SignatureInvalidRequest('More than one signature label has a Signature-Key member.');
    }
    label = candidate;
  }
  if (label === undefined) {
    throw new SignatureInvalidRequest('No signature label has a Signature-Key member.');
  }
  const input = inputs.get(label)!;
  if (!isInnerList(input))
    throw new SignatureInvalidRequest('The Signature-Input member is not an Inner List.');
  const signatureItem = signatures.get(label)!;
  if (isInnerList(signatureItem) || !(signatureItem[0] instanceof ArrayBuffer)) {
    throw new SignatureInvalidRequest('The Signature member is not a Byte Sequence.');
  }
  return { label, input, signature: new Uint8Array(signatureItem[0]), member: keys.get(label)! };
}

const PLAIN_COMPONENT_NAME = /^[a-z0-9@][a-z0-9@_.-]*$/;

/** RFC 9421 component identifier as serialized; the common bare name skips the generic serializer. */
function serializeComponentIdentifier(item: InnerList[0][number]): string {
  const [name, params] = item;
  if (typeof name === 'string' && params.size === 0 && PLAIN_COMPONENT_NAME.test(name)) return `"${name}"`;
  return serializeItem(item);
}

/** §Verification step 2, then the digest of a covered or required `content-digest` (RFC 9530). */
function checkCoveredComponents(
  request: SignedRequestInput,
  headers: HeaderMap,
  input: InnerList,
  policy: RouteSignaturePolicy,
): string[] {
  const components: string[] = [];
  const bare = new Set<string>();
  let digestCovered = false;
  for (const item of input[0]) {
    components.push(serializeComponentIdentifier(item));
    if (typeof item[0] !== 'string') continue;
    if (item[1].size === 0) bare.add(item[0]);
    if (item[0] === 'content-digest') digestCovered = true;
  }
  const required = requiredComponents(headers, request.body, policy);
  if (!required.every((component) => bare.has(component))) {
    throw new InvalidInput('The signature does not cover every required component.', {
      requiredInput: required,
    });
  }
  if (digestCovered || required.includes('content-digest')) {
    const digest = headers.get('content-digest');
    if (digest === undefined) throw new InvalidSignature('Content-Digest is covered but absent.');
    try {
      verifyContentDigest(digest, request.body ?? new Uint8Array(0));
    } catch (cause) {
      throw new InvalidSignature('Content-Digest does not match the request content.', { cause });
    }
  }
  return components;
}

function integerParam(input: InnerList, name: string): number | undefined {
  const value = input[1].get(name);
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw new InvalidSignature(`The ${name} signature parameter is not an Integer.`);
  }
  return value;
}

/** §Verification step 3 and §Freshness and Replay. The `alg` parameter is ignored (§Signature Parameters). */
function checkFreshness(
  input: InnerList,
  policy: RouteSignaturePolicy,
  deps: VerifierDeps,
): { created: number; expires: number | undefined } {
  const created = integerParam(input, 'created');
  if (created === undefined) throw new InvalidSignature('The signature has no created parameter.');
  const now = epochSeconds(deps.clock);
  if (now - created > (policy.windowSeconds ?? DEFAULT_WINDOW_SECONDS)) {
    throw new InvalidSignature('The signature was created outside the validity window.');
  }
  if (created - now > (deps.createdSkewSeconds ?? DEFAULT_CREATED_SKEW_SECONDS)) {
    throw new InvalidSignature('The signature was created in the future.');
  }
  const expires = integerParam(input, 'expires');
  if (expires !== undefined && now > expires) throw new InvalidSignature('The signature has expired.');
  return { created, expires };
}

/**
 * Verifies the AAuth HTTP Message Signature of a request (§Verification, steps 1-7 in order).
 *
 * Returns `undefined` when the request carries none of `Signature-Input`, `Signature` and
 * `Signature-Key` — the route decides (a resource challenges, PS and AS endpoints reject). Otherwise
 * throws a `SignatureError` (401 with `Signature-Error`) or returns the verified signature.
 */
export async function verifyRequestSignature(
  request: SignedRequestInput,
  policy: RouteSignaturePolicy,
  deps: VerifierDeps,
): Promise<VerifiedRequestSignature | undefined> {
  const headers = normalizeHeaders(request.headers);
  if (!headers.has('signature-input') && !headers.has('signature') && !headers.has('signature-key')) {
    return undefined;
  }
  // 1. Headers present and parseable; the one label with a Signature-Key member.
  const { label, input, signature, member, serializedInput } = selectSignature(headers);
  // 2. Required components covered; a covered or required Content-Digest matches the body.
  const components = checkCoveredComponents(request, headers, input, policy);
  // 3. created within the window, expires not past.
  const { created, expires } = checkFreshness(input, policy, deps);
  // 4. A scheme this route accepts; anything else, registered or not, takes this path.
  const schemes = policy.schemes ?? DEFAULT_SCHEMES;
  if (!(schemes as readonly string[]).includes(member.scheme)) {
    throw new UnsupportedScheme('The Signature-Key scheme is not accepted here.', {
      acceptSchemes: [...schemes],
    });
  }
  const verifiable = member as VerifiableMember;
  // §Signature Parameters: a keyid must name the Signature-Key key; only jwks_uri has a key id to compare.
  const keyid = input[1].get('keyid');
  if (keyid !== undefined && verifiable.scheme === 'jwks_uri' && keyid !== verifiable.kid) {
    throw new InvalidSignature('The keyid signature parameter names a different key than Signature-Key.');
  }
  // 5. The key, per scheme.
  const resolved = await resolveSigningKey(verifiable, policy, deps);
  // 6. The algorithm is the key's alg; the scheme checks already enforced Algorithm Determination.
  let key = resolved.key;
  if (!SUPPORTED_ALGS.includes(key.alg)) {
    throw new UnsupportedAlgorithm('The key algorithm is not supported.', { acceptAlgs: SUPPORTED_ALGS });
  }
  // 7. RFC 9421 verification of the selected label with that key.
  const base = Buffer.from(buildSignatureBase(request, headers, input, serializedInput), 'utf8');
  if (!verifyBytes(key, base, signature)) {
    const refreshed = resolved.refresh === undefined ? undefined : await resolved.refresh();
    if (
      refreshed === undefined ||
      refreshed.thumbprint === key.thumbprint ||
      !verifyBytes(refreshed, base, signature)
    ) {
      throw new InvalidSignature('The HTTP message signature does not verify.');
    }
    key = refreshed;
  }
  const result: VerifiedRequestSignature = {
    label,
    scheme: verifiable.scheme,
    key,
    created,
    components,
    signature,
    signer: resolved.signer,
  };
  return expires === undefined ? result : { ...result, expires };
}
