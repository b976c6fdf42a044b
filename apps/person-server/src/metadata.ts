import type { AgentProviderMetadata, PersonServerMetadata } from '@aauth-ref/core';

/**
 * The two metadata documents this origin publishes (§Person Server Metadata, §Agent Provider
 * Metadata). Only endpoints this server implements are listed. The AP document carries extension
 * members for the demo agent's enrollment (README, *Person Server*): recipients ignore members they
 * do not know (§Metadata Documents).
 */

export const PS_JWKS_PATH = '/.well-known/jwks.json';
export const AP_JWKS_PATH = '/.well-known/agent-jwks.json';

export const SCOPES_SUPPORTED = ['openid', 'profile', 'email', 'tenant'];
export const CLAIMS_SUPPORTED = ['sub', 'name', 'preferred_username', 'email', 'tenant'];

export function buildPersonServerMetadata(issuer: string): PersonServerMetadata {
  return {
    issuer,
    name: 'AAuth Reference Person Server',
    description: '**AAuth Reference Person Server**: decide which agents act for you and what they may do.',
    jwks_uri: `${issuer}${PS_JWKS_PATH}`,
    person_token_endpoint: `${issuer}/person`,
    auth_token_endpoint: `${issuer}/token`,
    revocation_endpoint: `${issuer}/revoke`,
    mission_endpoint: `${issuer}/mission`,
    permission_endpoint: `${issuer}/permission`,
    audit_endpoint: `${issuer}/audit`,
    // `/interaction` is the person's interaction page (§User Interaction); agents use this path.
    interaction_endpoint: `${issuer}/agent-interaction`,
    // The person's missions pages (§Person Server Metadata: "MAY also use it for a deployment's
    // human-facing administrative interface"); the companion specification's API is not defined yet.
    mission_control_endpoint: `${issuer}/missions`,
    scopes_supported: SCOPES_SUPPORTED,
    claims_supported: CLAIMS_SUPPORTED,
  };
}

export interface AgentProviderExtensions {
  /** `POST`, `hwk` only: enrolls a durable key once a signed-in person approves. */
  enrollment_endpoint: string;
  /** `POST`, `jkt-jwt` only: the durable key delegates to an ephemeral key; answers an agent token. */
  agent_token_endpoint: string;
  /** `POST`, `jwt` with the parent's agent token: issues a sub-agent token. */
  subagent_token_endpoint: string;
}

export function buildAgentProviderMetadata(issuer: string): AgentProviderMetadata & AgentProviderExtensions {
  return {
    issuer,
    jwks_uri: `${issuer}${AP_JWKS_PATH}`,
    name: 'AAuth Reference Demo Agent',
    description:
      'The **demo agent** of the AAuth reference Person Server: enrolled by a signed-in person, its agent tokens name this Person Server.',
    enrollment_endpoint: `${issuer}/agent/enroll`,
    agent_token_endpoint: `${issuer}/agent/token`,
    subagent_token_endpoint: `${issuer}/agent/subagent-token`,
  };
}
