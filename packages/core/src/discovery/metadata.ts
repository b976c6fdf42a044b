import { type IdentifierPolicy, isEndpointUrl, isHttpsUrl } from '../identifiers.js';
import { DWK } from '../tokens/claims.js';
import { DiscoveryError } from './types.js';

/**
 * Metadata documents (§Metadata Documents and the four per-role sections). Field names are the
 * spec's. Members a recipient does not recognise are kept and ignored.
 */

/** Fields defined identically across all four documents. */
export interface CommonMetadata {
  issuer: string;
  jwks_uri?: string;
  accept_signature_algs?: string[];
  name?: string;
  description?: string;
  logo_uri?: string;
  logo_dark_uri?: string;
  documentation_uri?: string;
  tos_uri?: string;
  policy_uri?: string;
  [member: string]: unknown;
}

/** `/.well-known/aauth-agent.json` (§Agent Provider Metadata). */
export interface AgentProviderMetadata extends CommonMetadata {
  jwks_uri: string;
  callback_endpoint?: string;
  event_endpoint?: string;
  login_endpoint?: string;
  localhost_callback_allowed?: boolean;
}

/** `/.well-known/aauth-person.json` (§Person Server Metadata). */
export interface PersonServerMetadata extends CommonMetadata {
  jwks_uri: string;
  auth_token_endpoint: string;
  person_token_endpoint: string;
  mission_endpoint?: string;
  permission_endpoint?: string;
  audit_endpoint?: string;
  interaction_endpoint?: string;
  mission_control_endpoint?: string;
  revocation_endpoint?: string;
  scopes_supported?: string[];
  claims_supported?: string[];
}

/** `/.well-known/aauth-access.json` (§Access Server Metadata). */
export interface AccessServerMetadata extends CommonMetadata {
  jwks_uri: string;
  auth_token_endpoint: string;
  revocation_endpoint?: string;
}

/** `/.well-known/aauth-resource.json` (§Resource Metadata). `jwks_uri` only when it has keys. */
export interface ResourceMetadata extends CommonMetadata {
  access_mode?: string;
  authorization_endpoint?: string;
  login_endpoint?: string;
  scope_descriptions?: Record<string, string>;
  signature_window?: number;
  additional_signature_components?: string[];
  revocation_endpoint?: string;
  /** R3 §Resource Metadata Extensions: vocabulary URI → its discovery endpoint. */
  r3_vocabularies?: Record<string, string>;
}

export type AAuthMetadata =
  | AgentProviderMetadata
  | PersonServerMetadata
  | AccessServerMetadata
  | ResourceMetadata;

/** Members that §Endpoint URLs governs (https, no query, no fragment). */
const ENDPOINT_MEMBERS = [
  'auth_token_endpoint',
  'person_token_endpoint',
  'authorization_endpoint',
  'mission_endpoint',
  'callback_endpoint',
] as const;

/**
 * Other endpoint members: the spec asks only for a URL; we hold them to the same https rule so an
 * agent never posts to a cleartext endpoint learned from metadata.
 */
const OTHER_ENDPOINT_MEMBERS = [
  'event_endpoint',
  'login_endpoint',
  'permission_endpoint',
  'audit_endpoint',
  'interaction_endpoint',
  'mission_control_endpoint',
  'revocation_endpoint',
] as const;

/** §Other URLs and the common-field table: https. */
const HTTPS_MEMBERS = [
  'jwks_uri',
  'logo_uri',
  'logo_dark_uri',
  'documentation_uri',
  'tos_uri',
  'policy_uri',
] as const;

/** Members each role must publish (beyond `issuer`). */
const REQUIRED_BY_DWK: Readonly<Record<string, readonly string[]>> = {
  [DWK.agent]: ['jwks_uri'],
  [DWK.person]: ['jwks_uri', 'auth_token_endpoint', 'person_token_endpoint'],
  [DWK.access]: ['jwks_uri', 'auth_token_endpoint'],
};

const DWK_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

/** `{iss}/.well-known/{dwk}` (Signature-Key §3.6 step 1). Throws `DiscoveryError('metadata')` on a bad dwk. */
export function buildWellKnownUrl(iss: string, dwk: string): string {
  // dwk comes from the presenter: one path segment, no dot-segments, nothing to escape.
  if (!DWK_NAME.test(dwk) || dwk === '..' || dwk.length > 128) {
    throw new DiscoveryError('metadata', 'dwk is not a well-known document name');
  }
  return `${iss}/.well-known/${dwk}`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

function invalid(member: string, rule: string): never {
  throw new DiscoveryError('metadata', `metadata ${member} ${rule}`);
}

/**
 * Checks the `issuer` binding (§Metadata Documents: present, and byte-equal to the identifier the
 * document was fetched for) and the member rules. Returns the document unchanged (unknown members
 * kept). Throws `DiscoveryError` with `issuer_missing`, `issuer_mismatch` or `metadata`.
 */
export function validateMetadata(
  document: unknown,
  expectedIssuer: string,
  dwk: string,
  policy: IdentifierPolicy,
): AAuthMetadata {
  if (!isRecord(document)) throw new DiscoveryError('metadata', 'metadata is not a JSON object');
  const { issuer } = document;
  if (issuer === undefined || issuer === null)
    throw new DiscoveryError('issuer_missing', 'metadata has no issuer');
  if (issuer !== expectedIssuer) {
    throw new DiscoveryError(
      'issuer_mismatch',
      'metadata issuer differs from the identifier it was fetched for',
    );
  }
  for (const member of REQUIRED_BY_DWK[dwk] ?? []) {
    if (document[member] === undefined) invalid(member, 'is required');
  }
  for (const member of HTTPS_MEMBERS) {
    const value = document[member];
    if (value !== undefined && !isHttpsUrl(value, policy)) invalid(member, 'must be an https URL');
  }
  for (const member of [...ENDPOINT_MEMBERS, ...OTHER_ENDPOINT_MEMBERS]) {
    const value = document[member];
    if (value !== undefined && !isEndpointUrl(value, policy)) {
      invalid(member, 'must be an https URL without query or fragment');
    }
  }
  for (const member of ['name', 'description', 'access_mode'] as const) {
    const value = document[member];
    if (value !== undefined && typeof value !== 'string') invalid(member, 'must be a string');
  }
  for (const member of [
    'accept_signature_algs',
    'additional_signature_components',
    'scopes_supported',
    'claims_supported',
  ] as const) {
    const value = document[member];
    if (value !== undefined && !isStringArray(value)) invalid(member, 'must be an array of strings');
  }
  const scopes = document.scope_descriptions;
  if (
    scopes !== undefined &&
    !(isRecord(scopes) && Object.values(scopes).every((v) => typeof v === 'string'))
  ) {
    invalid('scope_descriptions', 'must be an object of strings');
  }
  const window = document.signature_window;
  if (window !== undefined && !(typeof window === 'number' && Number.isSafeInteger(window) && window > 0)) {
    invalid('signature_window', 'must be a positive integer');
  }
  const localhost = document.localhost_callback_allowed;
  if (localhost !== undefined && typeof localhost !== 'boolean') {
    invalid('localhost_callback_allowed', 'must be a boolean');
  }
  return document as AAuthMetadata;
}
