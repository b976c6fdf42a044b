import type { ChainingIdentity } from '@aauth-ref/agent';
import {
  type AgentProviderMetadata,
  agentDomainOf,
  type Clock,
  DEV,
  epochSeconds,
  formatAgentIdentifier,
  issueToken,
  type KeyPair,
} from '@aauth-ref/core';

/**
 * The resource as its own Agent Provider (§Call Chaining: "it MUST publish agent metadata at
 * `/.well-known/aauth-agent.json`"; §Call Chaining Identity). The `issuer` is the resource identifier,
 * so the agent tokens it self-issues carry `iss` = the `aud` of the auth tokens it receives — the
 * binding §Upstream Token Verification step 3 checks. Its JWKS is the resource's own (`jwks_uri` as in
 * `aauth-resource.json`), and the key the agent token binds in `cnf` is the resource's active signing
 * key: durable, shared by every instance and restart, rotated with the key ring
 * (docs/spec-decisions.md, *Call chaining: the resource's agent identity*).
 */

/** The `local` part of the resource's agent identifier (§Agent Identifiers). */
export const CHAIN_AGENT_LOCAL = 'notes-chain';
/** Agent token lifetime (§Agent Token Structure: SHOULD NOT exceed 24 h; short, it is re-minted at will). */
export const CHAIN_AGENT_TOKEN_SECONDS = 15 * 60;
/** Re-minted this long before `exp`. */
export const CHAIN_AGENT_REFRESH_MARGIN_SECONDS = 60;

export interface ChainAgentProviderDeps {
  readonly issuer: string;
  readonly jwksUri: string;
  /** The resource's active signing key, read at each use so a rotation takes effect at once. */
  readonly key: () => KeyPair;
  readonly clock: Clock;
}

export interface ChainAgentProvider {
  /** `/.well-known/aauth-agent.json` (§Agent Provider Metadata). */
  readonly metadata: AgentProviderMetadata;
  /** `aauth:notes-chain@<host>`: the `sub` of the agent tokens. */
  readonly agentId: string;
  /** The signing key and a current agent token binding it (re-minted before expiry or after a rotation). */
  identity(): ChainingIdentity;
}

export function createChainAgentProvider(deps: ChainAgentProviderDeps): ChainAgentProvider {
  const { issuer, clock } = deps;
  // Development identifiers carry a port (`localhost:3003`); the DEV policy admits them, strict ones pass either way.
  const agentId = formatAgentIdentifier(CHAIN_AGENT_LOCAL, agentDomainOf(issuer), DEV);
  const metadata: AgentProviderMetadata = {
    issuer,
    jwks_uri: deps.jwksUri,
    name: 'AAuth Reference Notes (call chaining)',
    description:
      'The **AAuth Reference Notes** resource acting as an agent: it calls another resource on behalf of the person who called it.',
  };
  let current: { identity: ChainingIdentity; exp: number } | undefined;

  function mint(key: KeyPair): { identity: ChainingIdentity; exp: number } {
    const agentToken = issueToken(
      'agent',
      { iss: issuer, sub: agentId, cnf: { jwk: key.jwk } } as never,
      key,
      { clock, lifetimeSeconds: CHAIN_AGENT_TOKEN_SECONDS },
    );
    return { identity: { key, agentToken }, exp: epochSeconds(clock) + CHAIN_AGENT_TOKEN_SECONDS };
  }

  return {
    metadata,
    agentId,
    identity() {
      const key = deps.key();
      const stale =
        current === undefined ||
        current.identity.key.kid !== key.kid ||
        epochSeconds(clock) >= current.exp - CHAIN_AGENT_REFRESH_MARGIN_SECONDS;
      if (stale) current = mint(key);
      return current!.identity;
    },
  };
}
