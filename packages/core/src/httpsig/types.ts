import type { Clock } from '../clock.js';
import type { IssuerKeyResolver } from '../discovery/types.js';
import type { IdentifierPolicy } from '../identifiers.js';
import type { KeyPair, PublicJwk, VerificationKey } from '../jwk.js';
import type { Dwk, JktJwtClaims, TokenKind } from '../tokens/claims.js';
import type { TokenVerifier, VerifiedToken } from '../tokens/types.js';

/** Contracts of the HTTP Message Signatures profile (§HTTP Message Signatures Profile). */

/** Every scheme in the HTTP Signature-Key Scheme registry (Signature-Key §9.2.2). */
export const REGISTERED_SCHEMES = [
  'hwk',
  'jkt-jwt',
  'jwks_uri',
  'jwks',
  'jwt',
  'self-jwt',
  'x509',
  'cached',
] as const;
export type RegisteredScheme = (typeof REGISTERED_SCHEMES)[number];

/** The schemes this implementation verifies. */
export type VerifiableScheme = 'jwt' | 'jwks_uri' | 'hwk' | 'jkt-jwt';

/** A request as the verifier sees it. `url` is absolute and built from the configured public issuer. */
export interface SignedRequestInput {
  readonly method: string;
  readonly url: string;
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  /** Raw body bytes when the request has a body. */
  readonly body?: Uint8Array;
}

export interface RouteSignaturePolicy {
  /** Accepted Signature-Key schemes, in preference order (default `['jwt']`). */
  readonly schemes?: readonly VerifiableScheme[];
  /** `jwt` scheme: token kinds verified here (default agent, person, auth). */
  readonly tokenKinds?: readonly Exclude<TokenKind, 'resource'>[];
  /** `jwks_uri` scheme: the `dwk` values accepted (e.g. `aauth-person.json` at the AS). */
  readonly jwksUriDwks?: readonly Dwk[];
  /**
   * PS/AS endpoints: a request with a body must cover `content-type` and `content-digest`
   * (§Covered Components).
   */
  readonly requireBodyComponents?: boolean;
  /** Further components this server requires (`additional_signature_components`). */
  readonly additionalComponents?: readonly string[];
  /** `created` window in seconds (default 60). */
  readonly windowSeconds?: number;
}

export interface JwtSigner {
  readonly scheme: 'jwt';
  readonly token: VerifiedToken<'agent' | 'person' | 'auth'>;
}
export interface JwksUriSigner {
  readonly scheme: 'jwks_uri';
  readonly id: string;
  readonly dwk: string;
  readonly kid: string;
}
export interface HwkSigner {
  readonly scheme: 'hwk';
  readonly thumbprint: string;
  readonly jwk: PublicJwk;
}
export interface JktJwtSigner {
  readonly scheme: 'jkt-jwt';
  /** Thumbprint of the durable key (the `iss` is `urn:jkt:sha-256:` + this). */
  readonly durableThumbprint: string;
  readonly durableKey: VerificationKey;
  /** The new (ephemeral) key in `cnf.jwk`, which signed the request. */
  readonly newKey: VerificationKey;
  readonly claims: JktJwtClaims;
}
export type Signer = JwtSigner | JwksUriSigner | HwkSigner | JktJwtSigner;

export interface VerifiedRequestSignature {
  readonly label: string;
  readonly scheme: VerifiableScheme;
  /** The key that verified the HTTP signature. */
  readonly key: VerificationKey;
  readonly created: number;
  readonly expires?: number;
  /** Covered component identifiers as serialized in Signature-Input (e.g. `"@method"`, `"content-digest"`). */
  readonly components: readonly string[];
  /** The raw `Signature` bytes of the verified label (replay-cache key material). */
  readonly signature: Uint8Array;
  readonly signer: Signer;
}

export interface VerifierDeps {
  readonly clock: Clock;
  readonly keys: IssuerKeyResolver;
  readonly tokens: TokenVerifier;
  readonly identifierPolicy: IdentifierPolicy;
  /** Allowed future skew of `created`, seconds (default 5). */
  readonly createdSkewSeconds?: number;
}

export interface SignRequestOptions {
  readonly key: Pick<KeyPair, 'alg' | 'privateKey'>;
  /** The Signature-Key member for label `sig`, e.g. `{ scheme: 'jwt', jwt }`. */
  readonly signatureKey: SignatureKeyMember;
  readonly clock: Clock;
  /** Extra components beyond the profile's (`authorization` is added when `Authorization: AAuth` is present). */
  readonly additionalComponents?: readonly string[];
  readonly label?: string;
  readonly expiresInSeconds?: number;
}

/** One parsed Signature-Key dictionary member. Unknown schemes keep their raw parameters. */
export type SignatureKeyMember =
  | { readonly scheme: 'jwt'; readonly jwt: string; readonly cache?: boolean }
  | { readonly scheme: 'jkt-jwt'; readonly jwt: string; readonly cache?: boolean }
  | { readonly scheme: 'jwks_uri'; readonly id: string; readonly dwk: string; readonly kid: string }
  | { readonly scheme: 'hwk'; readonly jwk: Readonly<Record<string, string>> }
  | { readonly scheme: 'jwks'; readonly url: string; readonly kid: string }
  | { readonly scheme: 'self-jwt'; readonly jwt: string }
  | { readonly scheme: 'x509'; readonly x5u: string; readonly x5t: Uint8Array }
  | { readonly scheme: 'cached'; readonly cid: string }
  | {
      readonly scheme: 'unknown';
      readonly token: string;
      readonly params: Readonly<Record<string, unknown>>;
    };
