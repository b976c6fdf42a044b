import {
  type Capability,
  type IdentifierPolicy,
  InvalidRequest,
  isCapability,
  isMissionS256,
  isServerIdentifier,
} from '@aauth-ref/core';

/**
 * Parsing of the JSON bodies of the person token endpoint (§Person Token Endpoint) and the auth token
 * endpoint (§Agent Token Request). Members this code does not know are ignored (§AAuth-Capabilities:
 * recipients ignore what they do not recognise); a known member of the wrong shape is
 * `400 invalid_request`.
 */

/** §AAuth Platform Value Registry. */
export const PLATFORM_VALUES = ['web', 'mobile', 'desktop', 'workload', 'self-hosted'] as const;
export type Platform = (typeof PLATFORM_VALUES)[number];

/** `prompt` values (§Agent Token Request, OpenID Connect Core §3.1.2.1). */
export const PROMPT_VALUES = ['none', 'login', 'consent', 'select_account'] as const;
export type PromptValue = (typeof PROMPT_VALUES)[number];

/** Upper bounds on free-text members, so a request cannot make the PS store megabytes per pending row. */
export const MAX_JUSTIFICATION_LENGTH = 8192;
export const MAX_HINT_LENGTH = 1024;
/** A JWT larger than this is refused before any decoding (core's codec has its own limit too). */
const MAX_TOKEN_LENGTH = 16_384;
const MAX_DEVICE_CHARACTERS = 64;

/** Control, format, surrogate, private-use, unassigned and line/paragraph separator characters. */
const NON_PRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}]/u;

export interface PersonTokenParams {
  readonly resource: string;
  readonly mission_s256?: string;
  readonly subagent_token?: string;
  readonly upstream_token?: string;
  /** Absent when the request declared none (docs/spec-decisions.md: read here as on the auth endpoint). */
  readonly capabilities?: readonly Capability[];
}

export interface AuthTokenParams {
  readonly resource_token: string;
  readonly upstream_token?: string;
  readonly subagent_token?: string;
  readonly justification?: string;
  readonly login_hint?: string;
  readonly tenant?: string;
  readonly domain_hint?: string;
  /** The recognised values, in request order; empty when absent. */
  readonly prompt: readonly PromptValue[];
  readonly platform?: Platform;
  readonly device?: string;
  /** Absent when the member was absent: within a mission the mission's capabilities apply. */
  readonly capabilities?: readonly Capability[];
}

type Body = Record<string, unknown>;

function requireObject(body: unknown): Body {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new InvalidRequest('The request body must be a JSON object.');
  }
  return body as Body;
}

function optionalString(body: Body, name: string, maxLength: number): string | undefined {
  const value = body[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0) {
    throw new InvalidRequest(`${name} must be a non-empty string.`);
  }
  if (value.length > maxLength) throw new InvalidRequest(`${name} is too long.`);
  return value;
}

function optionalToken(body: Body, name: string): string | undefined {
  return optionalString(body, name, MAX_TOKEN_LENGTH);
}

function requiredToken(body: Body, name: string): string {
  const value = optionalToken(body, name);
  if (value === undefined) throw new InvalidRequest(`${name} is required.`);
  return value;
}

/** §AAuth-Capabilities: an array of capability values; unknown values are dropped, never refused. */
export function parseCapabilitiesMember(value: unknown): readonly Capability[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) {
    throw new InvalidRequest('capabilities must be an array of strings.');
  }
  return [...new Set((value as string[]).filter(isCapability))];
}

function parseMissionS256(body: Body): string | undefined {
  const value = body.mission_s256;
  if (value === undefined) return undefined;
  if (!isMissionS256(value)) throw new InvalidRequest('mission_s256 is not a SHA-256 base64url digest.');
  return value;
}

/** §Person Token Endpoint request parameters. Throws `InvalidRequest`. */
export function parsePersonTokenParams(body: unknown, policy: IdentifierPolicy): PersonTokenParams {
  const members = requireObject(body);
  const { resource } = members;
  if (resource === undefined) throw new InvalidRequest('resource is required.');
  // §Person Token Endpoint: "The PS MUST validate it against those requirements."
  if (!isServerIdentifier(resource, policy)) {
    throw new InvalidRequest('resource is not a server identifier (https, host only, lowercase).');
  }
  const params: {
    -readonly [K in keyof PersonTokenParams]: PersonTokenParams[K];
  } = { resource };
  const mission = parseMissionS256(members);
  if (mission !== undefined) params.mission_s256 = mission;
  const subagent = optionalToken(members, 'subagent_token');
  if (subagent !== undefined) params.subagent_token = subagent;
  const upstream = optionalToken(members, 'upstream_token');
  if (upstream !== undefined) params.upstream_token = upstream;
  const capabilities = parseCapabilitiesMember(members.capabilities);
  if (capabilities !== undefined) params.capabilities = capabilities;
  return params;
}

/**
 * `prompt`: a space-delimited list (OpenID Connect Core §3.1.2.1). Unknown values are ignored; `none`
 * with any other value is refused, as OpenID Connect requires.
 */
export function parsePrompt(value: unknown): readonly PromptValue[] {
  if (value === undefined) return [];
  if (typeof value !== 'string' || !/^[\x21-\x7e]+( [\x21-\x7e]+)*$/.test(value)) {
    throw new InvalidRequest('prompt must be a space-delimited list of values.');
  }
  const values = [
    ...new Set(
      value.split(' ').filter((v): v is PromptValue => (PROMPT_VALUES as readonly string[]).includes(v)),
    ),
  ];
  if (values.includes('none') && values.length > 1) {
    throw new InvalidRequest('prompt=none cannot be combined with other values.');
  }
  return values;
}

/** §Agent Token Request `device`: printable UTF-8, at most 64 characters. */
export function parseDevice(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0) throw new InvalidRequest('device must be a string.');
  if ([...value].length > MAX_DEVICE_CHARACTERS) {
    throw new InvalidRequest('device must not exceed 64 characters.');
  }
  if (NON_PRINTABLE.test(value)) throw new InvalidRequest('device must contain printable characters only.');
  return value;
}

/** §Agent Token Request `platform`: a value of the AAuth Platform Value Registry. */
export function parsePlatform(value: unknown): Platform | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !(PLATFORM_VALUES as readonly string[]).includes(value)) {
    throw new InvalidRequest('platform is not a value of the AAuth Platform Value Registry.');
  }
  return value as Platform;
}

/** §Agent Token Request parameters. Throws `InvalidRequest`. */
export function parseAuthTokenParams(body: unknown): AuthTokenParams {
  const members = requireObject(body);
  const params: { -readonly [K in keyof AuthTokenParams]: AuthTokenParams[K] } = {
    resource_token: requiredToken(members, 'resource_token'),
    prompt: parsePrompt(members.prompt),
  };
  const optional = {
    upstream_token: optionalToken(members, 'upstream_token'),
    subagent_token: optionalToken(members, 'subagent_token'),
    justification: optionalString(members, 'justification', MAX_JUSTIFICATION_LENGTH),
    login_hint: optionalString(members, 'login_hint', MAX_HINT_LENGTH),
    tenant: optionalString(members, 'tenant', MAX_HINT_LENGTH),
    domain_hint: optionalString(members, 'domain_hint', MAX_HINT_LENGTH),
    platform: parsePlatform(members.platform),
    device: parseDevice(members.device),
    capabilities: parseCapabilitiesMember(members.capabilities),
  };
  for (const [name, value] of Object.entries(optional)) {
    if (value !== undefined) (params as Record<string, unknown>)[name] = value;
  }
  return params;
}
