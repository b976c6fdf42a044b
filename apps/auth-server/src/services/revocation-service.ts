import {
  type Clock,
  Forbidden,
  type IdentifierPolicy,
  InvalidRequest,
  isEndpointUrl,
  NotFound,
  type OutboundFetch,
  type OutboundSigner,
} from '@aauth-ref/core';

/**
 * The AS's revocation endpoint (§Token Revocation) for the auth tokens it issued. "MUST only accept
 * revocation from the issuer of the token being revoked or from a trusted PS": the AS is the issuer,
 * so the one caller it accepts is the PS the token was issued through (its `ps`), signing as itself.
 *
 * An administrator revokes an issued token here too (`revokeIssued`): the AS records it and calls the
 * resource's `revocation_endpoint` (§Token Revocation: "AS revokes an auth token it issued"), signed
 * as itself (`jwks_uri`, `dwk=aauth-access.json`) through egress admission.
 */

export interface IssuedTokenRef {
  readonly jti: string;
  readonly ps: string;
  /** The resource the token was issued for. */
  readonly aud: string;
  readonly exp: Date;
}

/** What became of the notice to the resource. */
export type ResourceNotice =
  | { readonly kind: 'notified'; readonly status: number }
  | {
      readonly kind: 'failed';
      readonly reason: 'metadata' | 'no_revocation_endpoint' | 'signing' | 'network' | 'egress' | 'status';
      readonly status?: number;
    };

export interface RevocationStore {
  findIssuedAuthToken(jti: string): Promise<IssuedTokenRef | undefined>;
  /** Marks the token revoked and records `(iss, jti)`; idempotent. */
  revokeIssuedAuthToken(iss: string, token: IssuedTokenRef, at: Date, reason: string): Promise<void>;
}

export interface RevocationService {
  /** `POST /revoke` from the PS `caller`; resolves when revoked (or already revoked). */
  revoke(caller: string, body: unknown): Promise<void>;
  /**
   * Administrator: revokes an issued token and tells its resource. `undefined` for an unknown `jti`.
   */
  revokeIssued(jti: string): Promise<ResourceNotice | undefined>;
}

export interface ResourceNotifier {
  /** The resource's `/.well-known/aauth-resource.json` (`issuer` checked), through egress admission. */
  readonly resourceMetadata: (resource: string) => Promise<Record<string, unknown>>;
  readonly signer: OutboundSigner;
  readonly fetch: OutboundFetch;
  readonly identifierPolicy: IdentifierPolicy;
}

const MAX_MEMBER_LENGTH = 1024;

function requiredString(body: Record<string, unknown>, name: string): string {
  const value = body[name];
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_MEMBER_LENGTH) {
    throw new InvalidRequest(`${name} is required (a string).`);
  }
  return value;
}

export function createRevocationService(deps: {
  readonly issuer: string;
  readonly clock: Clock;
  readonly store: RevocationStore;
  readonly notifier: ResourceNotifier;
}): RevocationService {
  async function notify(token: IssuedTokenRef): Promise<ResourceNotice> {
    const { notifier } = deps;
    let metadata: Record<string, unknown>;
    try {
      metadata = await notifier.resourceMetadata(token.aud);
    } catch {
      return { kind: 'failed', reason: 'metadata' };
    }
    const endpoint = metadata.revocation_endpoint;
    // §Token Revocation: where no endpoint is reached, the token's lifetime bounds the access.
    if (!isEndpointUrl(endpoint, notifier.identifierPolicy))
      return { kind: 'failed', reason: 'no_revocation_endpoint' };
    let signed: ReturnType<OutboundSigner['signJsonPost']>;
    try {
      signed = notifier.signer.signJsonPost(
        endpoint,
        { iss: deps.issuer, jti: token.jti },
        metadata.additional_signature_components,
      );
    } catch {
      return { kind: 'failed', reason: 'signing' };
    }
    try {
      const response = await notifier.fetch(signed.request);
      // 404: the resource holds no such token, so there is nothing left to revoke there.
      if (response.status === 200 || response.status === 404)
        return { kind: 'notified', status: response.status };
      return { kind: 'failed', reason: 'status', status: response.status };
    } catch (cause) {
      return {
        kind: 'failed',
        reason: (cause as { reason?: unknown }).reason === 'egress' ? 'egress' : 'network',
      };
    }
  }

  return {
    async revokeIssued(jti) {
      const token = await deps.store.findIssuedAuthToken(jti);
      if (!token) return undefined;
      await deps.store.revokeIssuedAuthToken(deps.issuer, token, new Date(deps.clock.now()), 'admin');
      return notify(token);
    },
    async revoke(caller, body) {
      if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        throw new InvalidRequest('The request body must be a JSON object.');
      }
      const b = body as Record<string, unknown>;
      const iss = requiredString(b, 'iss');
      const jti = requiredString(b, 'jti');
      // "404 if the (iss, jti) pair is not recognized": this AS knows only the tokens it issued.
      const token = iss === deps.issuer ? await deps.store.findIssuedAuthToken(jti) : undefined;
      if (!token) throw new NotFound('No token with this (iss, jti) was issued here.');
      if (token.ps !== caller)
        throw new Forbidden('Only the Person Server the token was issued through may revoke it.');
      await deps.store.revokeIssuedAuthToken(iss, token, new Date(deps.clock.now()), 'ps_request');
    },
  };
}
