import type { Clock } from '@aauth-ref/core';
import {
  DWK,
  type Dwk,
  generateKeyPair,
  type IssuableClaims,
  issueToken,
  type KeyPair,
  type PublicJwk,
  type SigningAlg,
  systemClock,
  type TokenKind,
  toPublicJwks,
} from '@aauth-ref/core';

/** Generates a signing key pair (Ed25519 unless asked otherwise). */
export function makeKeyPair(alg: SigningAlg = 'Ed25519', kid?: string): KeyPair {
  return generateKeyPair(alg, kid);
}

/** Default identifiers per metadata document; `.example` names never resolve (RFC 2606). */
const DEFAULT_ISSUER: Readonly<Record<Dwk, string>> = {
  [DWK.agent]: 'https://agent.example',
  [DWK.person]: 'https://ps.example',
  [DWK.access]: 'https://as.example',
  [DWK.resource]: 'https://resource.example',
};

/** Members each role must publish beyond `issuer` and `jwks_uri`, so the default document validates. */
function requiredRoleMembers(dwk: Dwk, issuer: string): Record<string, unknown> {
  if (dwk === DWK.person) {
    return { auth_token_endpoint: `${issuer}/token`, person_token_endpoint: `${issuer}/person-token` };
  }
  if (dwk === DWK.access) return { auth_token_endpoint: `${issuer}/token` };
  return {};
}

export interface TestIssuerOptions {
  readonly dwk: Dwk;
  readonly issuer?: string;
  /** Published keys; the first one signs. Default: one fresh Ed25519 key. */
  readonly keys?: readonly KeyPair[];
  /** Extra metadata members; they override the role's defaults (`{issuer}/token`, `{issuer}/person-token`). */
  readonly metadata?: Record<string, unknown>;
}

export interface IssueOptions {
  readonly clock?: Clock;
  readonly lifetimeSeconds?: number;
  /** Sign with this key instead of the issuer's first one (e.g. an unpublished key, for forgery tests). */
  readonly signer?: KeyPair;
}

/**
 * An in-memory token issuer: identifier, keys, metadata document and JWKS, and a way to mint tokens.
 * Structurally a core `LocalIssuer`, so `createLocalKeyResolver([issuer])` verifies what it mints.
 */
export interface TestIssuer {
  readonly issuer: string;
  readonly dwk: Dwk;
  readonly keys: readonly KeyPair[];
  /** The key `issue` signs with. */
  readonly signingKey: KeyPair;
  readonly jwksUri: string;
  /** The `/.well-known/{dwk}` document: `issuer`, `jwks_uri` and the extra members. */
  readonly metadata: Readonly<Record<string, unknown>>;
  jwks(): { keys: PublicJwk[] };
  issue<K extends TokenKind>(kind: K, claims: Omit<IssuableClaims<K>, 'iss'>, options?: IssueOptions): string;
}

export function createTestIssuer(options: TestIssuerOptions): TestIssuer {
  const issuer = options.issuer ?? DEFAULT_ISSUER[options.dwk];
  const keys = options.keys && options.keys.length > 0 ? [...options.keys] : [makeKeyPair()];
  const signingKey = keys[0]!;
  const jwksUri = `${issuer}/jwks.json`;
  const extra = { ...requiredRoleMembers(options.dwk, issuer), ...options.metadata };
  return {
    issuer,
    dwk: options.dwk,
    keys,
    signingKey,
    jwksUri,
    metadata: Object.freeze({ issuer, jwks_uri: jwksUri, ...extra }),
    jwks: () => toPublicJwks(keys),
    issue(kind, claims, issueOptions = {}) {
      const full = { ...claims, iss: issuer } as unknown as IssuableClaims<typeof kind>;
      // An auth token names the document its issuer publishes keys under (PS or AS).
      if (kind === 'auth' && full.dwk === undefined) (full as { dwk?: string }).dwk = options.dwk;
      return issueToken(kind, full, issueOptions.signer ?? signingKey, {
        clock: issueOptions.clock ?? systemClock,
        lifetimeSeconds: issueOptions.lifetimeSeconds,
      });
    },
  };
}
