import { type BareItem, type InnerList, type Item, serializeDictionary, Token } from 'structured-headers';
import { InvalidRequest } from '../errors.js';
import { type IdentifierPolicy, isEndpointUrl, STRICT } from '../identifiers.js';
import { isInteractionCode } from '../interaction-code.js';
import { combineFieldLines, type HeaderFieldValue, isTokenString } from './accept-signature.js';
import { parseDictionaryField } from './signature-error.js';

/**
 * `AAuth-Requirement` (§Requirement Responses): a Dictionary whose `requirement` member is a Token
 * carrying the requirement-specific data as parameters. Parameter names stay as the spec spells
 * them (`resource-token`, `url`, `code`). Unknown parameters are ignored (§AAuth-Requirement Header
 * Structure); an unregistered requirement value is kept as `{ requirement: 'unknown' }` so the
 * agent can surface it as an error (§Requirement Values). Malformed input throws `InvalidRequest`
 * (the style of every codec here, see `signature-error.ts`).
 */

export type AAuthRequirement =
  | { readonly requirement: 'agent-token' }
  | { readonly requirement: 'person-token' }
  | { readonly requirement: 'auth-token'; readonly 'resource-token': string }
  | { readonly requirement: 'interaction'; readonly url: string; readonly code: string }
  | { readonly requirement: 'approval' }
  | { readonly requirement: 'clarification' }
  | { readonly requirement: 'claims' }
  | {
      readonly requirement: 'unknown';
      /** The requirement Token as sent. */
      readonly value: string;
      readonly params: Readonly<Record<string, BareItem>>;
    };

export type RequirementValue = Exclude<AAuthRequirement['requirement'], 'unknown'>;

/** §AAuth Requirement Value Registry. */
export const REQUIREMENT_VALUES: readonly RequirementValue[] = [
  'agent-token',
  'person-token',
  'auth-token',
  'interaction',
  'approval',
  'clarification',
  'claims',
];

const REGISTERED: ReadonlySet<string> = new Set(REQUIREMENT_VALUES);
const FIELD = 'AAuth-Requirement';

/**
 * Parses `AAuth-Requirement`. Returns `undefined` when the header is absent. Throws
 * `InvalidRequest` when it is malformed, lacks the `requirement` Token, or a registered requirement
 * lacks what the spec says it MUST carry (`auth-token` without `resource-token`; `interaction`
 * without an `https` `url` free of query and fragment, or without a well-formed `code`).
 */
export function parseAAuthRequirement(
  value: HeaderFieldValue,
  policy: IdentifierPolicy = STRICT,
): AAuthRequirement | undefined {
  const combined = combineFieldLines(value);
  if (combined === undefined) return undefined;
  const member = parseDictionaryField(combined, FIELD).get('requirement');
  if (member === undefined || Array.isArray(member[0]) || !(member[0] instanceof Token)) {
    throw new InvalidRequest(`${FIELD} has no requirement Token`);
  }
  const requirement = member[0].toString();
  const params = member[1];
  switch (requirement) {
    case 'agent-token':
    case 'person-token':
    case 'approval':
    case 'clarification':
    case 'claims':
      return { requirement };
    case 'auth-token': {
      const resourceToken = params.get('resource-token');
      if (typeof resourceToken !== 'string' || resourceToken.length === 0) {
        throw new InvalidRequest(`${FIELD} auth-token has no resource-token String`);
      }
      return { requirement, 'resource-token': resourceToken };
    }
    case 'interaction': {
      const url = params.get('url');
      const code = params.get('code');
      if (typeof url !== 'string' || !isEndpointUrl(url, policy)) {
        throw new InvalidRequest(
          `${FIELD} interaction url is missing or not an https URL without query or fragment`,
        );
      }
      if (typeof code !== 'string' || !isInteractionCode(code)) {
        throw new InvalidRequest(`${FIELD} interaction code is missing or not a Crockford base32 code`);
      }
      return { requirement, url, code };
    }
    default:
      return { requirement: 'unknown', value: requirement, params: Object.fromEntries(params) };
  }
}

/**
 * Serializes `AAuth-Requirement`, enforcing what the spec requires of each value. Throws
 * `TypeError` for a model the spec forbids (e.g. an `interaction` url with a query, a code outside
 * the Crockford alphabet, an `unknown` requirement that names a registered value).
 */
export function serializeAAuthRequirement(req: AAuthRequirement, policy: IdentifierPolicy = STRICT): string {
  const params = new Map<string, BareItem>();
  let token: string;
  switch (req.requirement) {
    case 'auth-token':
      if (typeof req['resource-token'] !== 'string' || req['resource-token'].length === 0) {
        throw new TypeError('auth-token requires a resource-token');
      }
      token = req.requirement;
      params.set('resource-token', req['resource-token']);
      break;
    case 'interaction':
      if (!isEndpointUrl(req.url, policy)) {
        throw new TypeError(`interaction url must be https without query or fragment: ${req.url}`);
      }
      if (!isInteractionCode(req.code))
        throw new TypeError(`interaction code is not a Crockford base32 code`);
      token = req.requirement;
      params.set('url', req.url);
      params.set('code', req.code);
      break;
    case 'unknown':
      if (REGISTERED.has(req.value) || !isTokenString(req.value)) {
        throw new TypeError(`unknown requirement must be an unregistered Token: ${req.value}`);
      }
      token = req.value;
      for (const [key, bare] of Object.entries(req.params)) params.set(key, bare);
      break;
    default:
      token = req.requirement;
  }
  const dict = new Map<string, Item | InnerList>([['requirement', [new Token(token), params]]]);
  try {
    return serializeDictionary(dict);
  } catch (cause) {
    throw new TypeError(`${FIELD} holds a value that cannot be serialized`, { cause });
  }
}
