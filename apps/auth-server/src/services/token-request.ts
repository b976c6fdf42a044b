import {
  type AgentTokenClaims,
  assertResourceTokenLifetime,
  type Clock,
  epochSeconds,
  InvalidAgentToken,
  InvalidRequest,
  InvalidResourceToken,
  type ResourceTokenClaims,
  TokenVerificationError,
  type TokenVerifier,
  tokenFailureToBodyError,
  type VerifiedToken,
} from '@aauth-ref/core';
import type { GrantContext } from './ports.js';

/**
 * Verification of a PS-to-AS token request (§PS-to-AS Token Request): the body members, the resource
 * token (§Resource Token Verification, AS rules), the agent and sub-agent tokens (§Agent Token
 * Verification without step 5: the PS, not the agent, signs the HTTP request) and an upstream token
 * (§Upstream Token Verification). The HTTP signature (the PS's, `jwks_uri`) was verified by the hook.
 */

/** A JWT larger than this is refused before any decoding. */
const MAX_TOKEN_LENGTH = 16_384;

export interface TokenRequestParams {
  readonly resource_token: string;
  readonly agent_token: string;
  readonly subagent_token?: string;
  readonly upstream_token?: string;
}

function tokenMember(body: Record<string, unknown>, name: string, required: boolean): string | undefined {
  const value = body[name];
  if (value === undefined) {
    if (required) throw new InvalidRequest(`${name} is required.`);
    return undefined;
  }
  if (typeof value !== 'string' || value.length === 0)
    throw new InvalidRequest(`${name} must be a non-empty string.`);
  if (value.length > MAX_TOKEN_LENGTH) throw new InvalidRequest(`${name} is too long.`);
  return value;
}

/** Members this AS does not know are ignored; a known member of the wrong shape is `invalid_request`. */
export function parseTokenRequest(body: unknown): TokenRequestParams {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new InvalidRequest('The request body must be a JSON object.');
  }
  const b = body as Record<string, unknown>;
  const resource_token = tokenMember(b, 'resource_token', true)!;
  const agent_token = tokenMember(b, 'agent_token', true)!;
  const subagent_token = tokenMember(b, 'subagent_token', false);
  const upstream_token = tokenMember(b, 'upstream_token', false);
  return {
    resource_token,
    agent_token,
    ...(subagent_token === undefined ? {} : { subagent_token }),
    ...(upstream_token === undefined ? {} : { upstream_token }),
  };
}

async function verifyBodyToken<K extends 'agent' | 'resource'>(
  verifier: TokenVerifier,
  jwt: string,
  kind: K,
): Promise<VerifiedToken<K>> {
  try {
    return await verifier.verify(jwt, { kinds: [kind] });
  } catch (err) {
    if (err instanceof TokenVerificationError) throw tokenFailureToBodyError(err, kind);
    throw err;
  }
}

/** The verified tokens whose stored state the request needs. */
export interface TokenStateQuery {
  readonly resource: ResourceTokenClaims;
  readonly agent: AgentTokenClaims;
  readonly subagent?: AgentTokenClaims;
}

/** Revocation by `(iss, jti)`: a token its provider revoked here is refused. */
export interface TokenRevocationState {
  readonly agentRevoked: boolean;
  readonly subagentRevoked: boolean;
}

export interface TokenRequestDeps<S extends TokenRevocationState> {
  /** This AS's identifier. */
  readonly issuer: string;
  readonly clock: Clock;
  readonly verifier: TokenVerifier;
  /**
   * Reads the tokens' revocation once all are verified, together with whatever else the caller needs
   * of the request's stored state (one round trip); handed back as `state`.
   */
  readonly readState: (tokens: TokenStateQuery) => Promise<S>;
  /** The longest resource-token lifetime accepted (default: the spec's 5 minutes). */
  readonly resourceTokenMaxLifetimeSeconds?: number;
}

export interface VerifiedTokenRequest {
  readonly resource: VerifiedToken<'resource'>;
  readonly agent: VerifiedToken<'agent'>;
  readonly subagent?: VerifiedToken<'agent'>;
  readonly upstream?: VerifiedToken<'auth'>;
}

/**
 * §Upstream Token Verification at an AS: Auth Token Verification (JWT trust), an issuer this AS may
 * extend — itself, or the calling PS that brokered the upstream grant — and `aud` = the `iss` of the
 * intermediary's agent token. The table has no code for it: `invalid_request` (docs/spec-decisions.md).
 */
async function verifyUpstreamToken(
  deps: TokenRequestDeps<TokenRevocationState>,
  jwt: string,
  signerPs: string,
  agent: VerifiedToken<'agent'>,
): Promise<VerifiedToken<'auth'>> {
  let token: VerifiedToken<'auth'>;
  try {
    token = await deps.verifier.verify(jwt, { kinds: ['auth'] });
  } catch (err) {
    if (!(err instanceof TokenVerificationError)) throw err;
    throw new InvalidRequest('The upstream_token could not be verified.', { cause: err });
  }
  if (token.claims.iss !== deps.issuer && token.claims.iss !== signerPs) {
    throw new InvalidRequest(
      'The upstream_token was issued by neither this access server nor the calling person server.',
    );
  }
  if (token.claims.aud !== agent.claims.iss) {
    throw new InvalidRequest("The upstream_token's aud is not the intermediary's agent provider.");
  }
  return token;
}

/**
 * Verifies a token request from the PS `signerPs` (the verified `jwks_uri` `id`). Throws the 400 codes
 * of §Token Endpoint Error Codes, in the order of the checks below whatever order the work is done in.
 */
export async function verifyTokenRequest<S extends TokenRevocationState>(
  deps: TokenRequestDeps<S>,
  signerPs: string,
  params: TokenRequestParams,
): Promise<VerifiedTokenRequest & { readonly state: S }> {
  const resource = await verifyBodyToken(deps.verifier, params.resource_token, 'resource');
  assertResourceTokenLifetime(resource.claims, deps.resourceTokenMaxLifetimeSeconds);
  // §Resource Token Verification step 4: aud is this AS (four-party).
  if (resource.claims.aud !== deps.issuer) {
    throw new InvalidResourceToken('The resource token is not addressed to this access server.');
  }
  // Step 6, AS rule: "An AS MUST verify that `ps` names the PS that sent the token request."
  if (resource.claims.ps !== signerPs) {
    throw new InvalidResourceToken('The resource token names another person server.');
  }
  const agent = await verifyBodyToken(deps.verifier, params.agent_token, 'agent');
  // §PS-to-AS Token Request: agent_token is the parent (top-level) agent's token.
  if (agent.claims.parent_agent !== undefined) {
    throw new InvalidAgentToken(
      'The agent_token is a sub-agent token; send it as subagent_token with its parent as agent_token.',
    );
  }
  // The sub-agent token is verified before the one read of both tokens' revocation; its failure is
  // thrown after the agent token's revocation, where the separate checks threw it.
  const subagentResult =
    params.subagent_token === undefined
      ? undefined
      : await verifyBodyToken(deps.verifier, params.subagent_token, 'agent').then(
          (token) => ({ token }),
          (error: unknown) => ({ error }),
        );
  const subagent = subagentResult && 'token' in subagentResult ? subagentResult.token : undefined;
  const state = await deps.readState({
    resource: resource.claims,
    agent: agent.claims,
    ...(subagent ? { subagent: subagent.claims } : {}),
  });
  if (state.agentRevoked) {
    throw new InvalidAgentToken('The agent token has been revoked.');
  }
  if (subagentResult && 'error' in subagentResult) throw subagentResult.error;
  if (subagent) {
    // §Parent-Mediated Authorization: the sub-agent's parent_agent names the agent_token's agent.
    if (subagent.claims.parent_agent !== agent.claims.sub) {
      throw new InvalidAgentToken('The subagent_token does not name the agent_token as its parent_agent.');
    }
    if (state.subagentRevoked) {
      throw new InvalidAgentToken('The sub-agent token has been revoked.');
    }
  }
  // Step 5 (and its sub-agent variant): agent_jkt is the thumbprint of the key the auth token binds.
  const bound = (subagent ?? agent).cnfKey;
  if (resource.claims.agent_jkt !== bound.thumbprint) {
    throw new InvalidResourceToken(
      subagent
        ? "The resource token's agent_jkt is not the sub-agent's key."
        : "The resource token's agent_jkt is not the agent's key.",
    );
  }
  const upstream =
    params.upstream_token === undefined
      ? undefined
      : await verifyUpstreamToken(deps, params.upstream_token, signerPs, agent);
  return {
    resource,
    agent,
    ...(subagent ? { subagent } : {}),
    ...(upstream ? { upstream } : {}),
    state,
  };
}

/** The plain-JSON context issuing needs (kept in the pending row while the AS waits). */
export function toGrantContext(request: VerifiedTokenRequest): GrantContext {
  const rt = request.resource.claims;
  const bound = request.subagent ?? request.agent;
  const notAfter = Math.min(
    request.agent.claims.exp,
    request.subagent?.claims.exp ?? Number.POSITIVE_INFINITY,
  );
  return {
    resource: rt.iss,
    ps: rt.ps,
    sub: rt.sub,
    ...(rt.scope === undefined ? {} : { scope: rt.scope }),
    ...(rt.account === undefined ? {} : { account: rt.account }),
    ...(rt.mission_s256 === undefined ? {} : { mission_s256: rt.mission_s256 }),
    ...(rt.tenant === undefined ? {} : { tenant: rt.tenant }),
    resource_token_jti: rt.jti,
    agent: request.agent.claims,
    ...(request.subagent ? { subagent_sub: request.subagent.claims.sub } : {}),
    cnf_jwk: bound.cnfKey.jwk,
    cnf_jkt: bound.cnfKey.thumbprint,
    not_after: notAfter,
    agent_jkt: rt.agent_jkt,
  };
}

/** True when the agent (or sub-agent) token has expired by now: no auth token can be issued for it. */
export function hasGrantExpired(context: GrantContext, clock: Clock): boolean {
  return context.not_after <= epochSeconds(clock);
}
