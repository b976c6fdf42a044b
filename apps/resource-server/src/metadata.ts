import type { ResourceMetadata } from '@aauth-ref/core';
import { MCP_VOCABULARY } from './services/mcp-tools.js';

/** The resource's metadata document (§Resource Metadata). Only endpoints this server implements are listed. */

export const JWKS_PATH = '/.well-known/jwks.json';
export const AUTHORIZE_PATH = '/authorize';
export const REVOKE_PATH = '/revoke';
/** The MCP server (R3 §MCP Vocabulary: its discovery endpoint is the MCP server URL). */
export const MCP_PATH = '/mcp';

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
    r3_vocabularies: { [MCP_VOCABULARY]: `${issuer}${MCP_PATH}` },
  };
}
