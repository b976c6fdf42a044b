import type { ResourceMetadata } from '@aauth-ref/core';
import { R3_VOCABULARY_PATHS } from './services/r3-catalog.js';

/** The resource's metadata document (§Resource Metadata). Only endpoints this server implements are listed. */

export const JWKS_PATH = '/.well-known/jwks.json';
export const AUTHORIZE_PATH = '/authorize';
export const REVOKE_PATH = '/revoke';
/** The MCP server (R3 §MCP Vocabulary: its discovery endpoint is the MCP server URL). */
export const MCP_PATH = '/mcp';
/** The OpenAPI description of the REST API (R3 §OpenAPI Vocabulary: its discovery endpoint). */
export const OPENAPI_PATH = '/openapi.json';

/**
 * Components an agent must cover beyond the profile's (`additional_signature_components`). They
 * describe a body, so they are enforced on requests that carry one; the state-changing routes always
 * require them (docs/spec-decisions.md, *Resource server*).
 */
export const BODY_SIGNATURE_COMPONENTS: readonly string[] = ['content-type', 'content-digest'];

export interface ResourceMetadataOptions {
  readonly issuer: string;
  readonly scopeDescriptions: Readonly<Record<string, string>>;
  readonly signatureWindow: number;
}

export function buildResourceMetadata(options: ResourceMetadataOptions): ResourceMetadata {
  const { issuer } = options;
  return {
    issuer,
    jwks_uri: `${issuer}${JWKS_PATH}`,
    name: 'AAuth Reference Notes',
    description:
      '**AAuth Reference Notes** keeps short notes in two notebooks per person (`personal` and `work`). Agents read and add notes for the person they act for.',
    // The notes API is the point of the demo; other endpoints answer with their own requirement.
    access_mode: 'auth-token',
    authorization_endpoint: `${issuer}${AUTHORIZE_PATH}`,
    scope_descriptions: { ...options.scopeDescriptions },
    signature_window: options.signatureWindow,
    additional_signature_components: [...BODY_SIGNATURE_COMPONENTS],
    revocation_endpoint: `${issuer}${REVOKE_PATH}`,
    // R3 §Resource Metadata Extensions: one discovery endpoint per vocabulary.
    r3_vocabularies: Object.fromEntries(
      Object.entries(R3_VOCABULARY_PATHS).map(([vocabulary, path]) => [vocabulary, `${issuer}${path}`]),
    ),
  };
}
