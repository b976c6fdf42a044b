import {
  type BareItem,
  type InnerList,
  type Item,
  isInnerList,
  type Parameters,
  parseDictionary,
  serializeDictionary,
  Token,
} from 'structured-headers';
import { SignatureInvalidRequest } from '../errors.js';
import type { SignatureKeyMember } from '../httpsig/types.js';

/**
 * The `Signature-Key` request header (Signature-Key §3): a Structured Field Dictionary keyed by
 * signature label whose member value is the scheme Token, parameterised per scheme.
 *
 * Every registered scheme (§9.2.2) is typed; an unregistered Token is kept as
 * `{ scheme: 'unknown', token, params }` so the verifier can answer `unsupported_scheme` on the
 * defined path (§3 *Unknown schemes*) instead of failing in a scheme-specific way.
 */

/** Parsed `Signature-Key`: label → member, in header order. */
export type SignatureKeyDictionary = ReadonlyMap<string, SignatureKeyMember>;

/** What `serializeSignatureKey` accepts: a map or a plain object keyed by label. */
export type SignatureKeyInput = SignatureKeyDictionary | Readonly<Record<string, SignatureKeyMember>>;

function malformed(detail: string, cause?: unknown): SignatureInvalidRequest {
  return new SignatureInvalidRequest(detail, cause === undefined ? {} : { cause });
}

function requireString(params: Parameters, scheme: string, name: string): string {
  const value = params.get(name);
  if (typeof value !== 'string') {
    throw malformed(`Signature-Key ${scheme} member needs a String ${name} parameter.`);
  }
  return value;
}

function optionalBoolean(params: Parameters, scheme: string, name: string): boolean | undefined {
  const value = params.get(name);
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean')
    throw malformed(`Signature-Key ${scheme} ${name} parameter must be a Boolean.`);
  return value;
}

function toBytes(value: BareItem): Uint8Array | undefined {
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  return undefined;
}

function readJwtMember(scheme: 'jwt' | 'jkt-jwt', params: Parameters): SignatureKeyMember {
  const jwt = requireString(params, scheme, 'jwt');
  const cache = optionalBoolean(params, scheme, 'cache');
  return cache === undefined ? { scheme, jwt } : { scheme, jwt, cache };
}

function readHwk(params: Parameters): SignatureKeyMember {
  // The parameters are the JWK members as Strings (§3.4); Algorithm Determination runs on them later.
  const jwk: Record<string, string> = {};
  for (const [name, value] of params) {
    if (typeof value !== 'string') throw malformed('Signature-Key hwk parameters must be Strings.');
    jwk[name] = value;
  }
  return { scheme: 'hwk', jwk };
}

function readMember(item: Item | InnerList): SignatureKeyMember {
  if (isInnerList(item)) throw malformed('A Signature-Key member must be a scheme Token, not an Inner List.');
  const [value, params] = item;
  if (!(value instanceof Token)) throw malformed('A Signature-Key member must be a scheme Token.');
  const token = value.toString();
  switch (token) {
    case 'jwt':
    case 'jkt-jwt':
      return readJwtMember(token, params);
    case 'jwks_uri':
      return {
        scheme: 'jwks_uri',
        id: requireString(params, token, 'id'),
        dwk: requireString(params, token, 'dwk'),
        kid: requireString(params, token, 'kid'),
      };
    case 'hwk':
      return readHwk(params);
    case 'jwks':
      return {
        scheme: 'jwks',
        url: requireString(params, token, 'url'),
        kid: requireString(params, token, 'kid'),
      };
    case 'self-jwt':
      return { scheme: 'self-jwt', jwt: requireString(params, token, 'jwt') };
    case 'x509': {
      const x5t = toBytes(params.get('x5t') ?? '');
      if (x5t === undefined) throw malformed('Signature-Key x509 x5t parameter must be a Byte Sequence.');
      return { scheme: 'x509', x5u: requireString(params, token, 'x5u'), x5t };
    }
    case 'cached':
      return { scheme: 'cached', cid: requireString(params, token, 'cid') };
    default:
      return { scheme: 'unknown', token, params: Object.fromEntries(params) };
  }
}

/**
 * Parses a `Signature-Key` field value. Throws `SignatureInvalidRequest` (`invalid_request`) when
 * the value is not a Dictionary, a member is not a Token, or a registered scheme lacks a REQUIRED
 * parameter or carries one of the wrong type. Unknown scheme Tokens never throw.
 */
export function parseSignatureKey(value: string): SignatureKeyDictionary {
  let dictionary: Map<string, Item | InnerList>;
  try {
    dictionary = parseDictionary(value);
  } catch (cause) {
    throw malformed('Signature-Key is not a Structured Field Dictionary.', cause);
  }
  const members = new Map<string, SignatureKeyMember>();
  for (const [label, item] of dictionary) members.set(label, readMember(item));
  return members;
}

function toItem(member: SignatureKeyMember): Item {
  const params: Parameters = new Map();
  switch (member.scheme) {
    case 'jwt':
    case 'jkt-jwt':
      params.set('jwt', member.jwt);
      if (member.cache !== undefined) params.set('cache', member.cache);
      return [new Token(member.scheme), params];
    case 'jwks_uri':
      params.set('id', member.id).set('dwk', member.dwk).set('kid', member.kid);
      return [new Token(member.scheme), params];
    case 'hwk':
      for (const [name, value] of Object.entries(member.jwk)) params.set(name, value);
      return [new Token(member.scheme), params];
    case 'jwks':
      params.set('url', member.url).set('kid', member.kid);
      return [new Token(member.scheme), params];
    case 'self-jwt':
      params.set('jwt', member.jwt);
      return [new Token(member.scheme), params];
    case 'x509':
      params.set('x5u', member.x5u).set('x5t', member.x5t);
      return [new Token(member.scheme), params];
    case 'cached':
      params.set('cid', member.cid);
      return [new Token(member.scheme), params];
    case 'unknown':
      for (const [name, value] of Object.entries(member.params)) params.set(name, value as BareItem);
      return [new Token(member.token), params];
  }
}

/**
 * Serializes `Signature-Key` members. Throws `TypeError` when a label, parameter name or value
 * cannot be expressed as a Structured Field (a programming error on the sending side).
 */
export function serializeSignatureKey(members: SignatureKeyInput): string {
  const entries = members instanceof Map ? [...members.entries()] : Object.entries(members);
  const dictionary = new Map<string, Item>();
  try {
    for (const [label, member] of entries) dictionary.set(label, toItem(member as SignatureKeyMember));
    return serializeDictionary(dictionary);
  } catch (cause) {
    throw new TypeError('Signature-Key members cannot be serialized as a Structured Field Dictionary.', {
      cause,
    });
  }
}
