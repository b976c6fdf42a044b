import type { IssuerKeyResolver, ResolveKeyOptions } from '../../src/discovery/types.js';
import { DiscoveryError } from '../../src/discovery/types.js';
import { STRICT } from '../../src/identifiers.js';
import {
  generateKeyPair,
  type KeyPair,
  type SigningAlg,
  signBytes,
  type VerificationKey,
} from '../../src/jwk.js';
import type { JwtHeader } from '../../src/tokens/claims.js';
import { type ClaimsByKind, DWK, type TokenKind } from '../../src/tokens/claims.js';
import { issueToken } from '../../src/tokens/issue.js';
import { encodeSigningInput, serializeCompactJws } from '../../src/tokens/jwt-codec.js';
import type { IssuableClaims, TokenVerifier, TokenVerifierDeps } from '../../src/tokens/types.js';
import { createTokenVerifier } from '../../src/tokens/verify.js';

export const NOW_MS = Date.UTC(2026, 10, 29, 12, 0, 0);
export const NOW = NOW_MS / 1000;

export interface FakeClock {
  now(): number;
  set(ms: number): void;
  advance(seconds: number): void;
}

export function createFakeClock(start = NOW_MS): FakeClock {
  let t = start;
  return {
    now: () => t,
    set: (ms) => {
      t = ms;
    },
    advance: (seconds) => {
      t += seconds * 1000;
    },
  };
}

export interface ResolverCall {
  iss: string;
  dwk: string;
  kid: string;
  refresh: boolean;
}

export interface FakeResolver extends IssuerKeyResolver {
  readonly calls: ResolverCall[];
  /** Publish `keys` for `iss` under `dwk`. */
  publish(iss: string, dwk: string, keys: readonly KeyPair[]): void;
  /** What a refresh sees instead of the current set (a rotation behind the cache). */
  publishOnRefresh(iss: string, dwk: string, keys: readonly KeyPair[]): void;
  /** Every call throws this from now on. */
  failWith(err: DiscoveryError | undefined): void;
}

function publicHalf(pair: KeyPair): VerificationKey {
  return { alg: pair.alg, jwk: pair.jwk, keyObject: pair.keyObject, thumbprint: pair.thumbprint };
}

/** An in-memory IssuerKeyResolver that counts its calls. */
export function createFakeResolver(): FakeResolver {
  const sets = new Map<string, Map<string, VerificationKey>>();
  const onRefresh = new Map<string, Map<string, VerificationKey>>();
  const calls: ResolverCall[] = [];
  let error: DiscoveryError | undefined;
  const toMap = (keys: readonly KeyPair[]) => new Map(keys.map((k) => [k.kid, publicHalf(k)]));
  return {
    calls,
    publish: (iss, dwk, keys) => {
      sets.set(`${iss} ${dwk}`, toMap(keys));
    },
    publishOnRefresh: (iss, dwk, keys) => {
      onRefresh.set(`${iss} ${dwk}`, toMap(keys));
    },
    failWith: (err) => {
      error = err;
    },
    async resolveKey(iss: string, dwk: string, kid: string, options?: ResolveKeyOptions) {
      const refresh = options?.refresh === true;
      calls.push({ iss, dwk, kid, refresh });
      if (error) throw error;
      const id = `${iss} ${dwk}`;
      if (refresh && onRefresh.has(id)) sets.set(id, onRefresh.get(id)!);
      const set = sets.get(id);
      if (!set) throw new DiscoveryError('network', `no issuer ${iss}`);
      const key = set.get(kid);
      if (!key) throw new DiscoveryError('unknown_key', `no key ${kid}`);
      return key;
    },
    async metadata(iss: string) {
      return { issuer: iss };
    },
  };
}

/** Signs arbitrary header and payload: for tokens our issuer refuses to make. */
export function forgeJwt(
  header: JwtHeader,
  payload: Record<string, unknown>,
  signer: Pick<KeyPair, 'alg' | 'privateKey'>,
): string {
  const input = encodeSigningInput(header, payload);
  return serializeCompactJws(input, signBytes(signer, Buffer.from(input)));
}

/** Decodes the payload of a compact JWT (test convenience). */
export function payloadOf(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

export function headerOf(jwt: string): JwtHeader {
  return JSON.parse(Buffer.from(jwt.split('.')[0]!, 'base64url').toString('utf8')) as JwtHeader;
}

/** Re-encodes a token with a modified payload, keeping the original signature. */
export function withPayload(jwt: string, payload: Record<string, unknown>): string {
  const [h, , s] = jwt.split('.');
  return `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`;
}

// --- A small world: one issuer per role, a holder key, a verifier --------------------------------

export const AP = 'https://agent.example';
export const PS = 'https://ps.example';
export const AS = 'https://as.example';
export const RS = 'https://resource.example';
export const AGENT_ID = 'aauth:assistant-v2@agent.example';

export interface World {
  clock: FakeClock;
  resolver: FakeResolver;
  verifier: TokenVerifier;
  holder: KeyPair;
  signers: { ap: KeyPair; ps: KeyPair; as: KeyPair; rs: KeyPair };
  baseClaims<K extends TokenKind>(kind: K): IssuableClaims<K>;
  signerOf(kind: TokenKind): KeyPair;
  issue<K extends TokenKind>(kind: K, overrides?: Partial<ClaimsByKind[K]>, lifetimeSeconds?: number): string;
  newVerifier(deps?: Partial<TokenVerifierDeps>): TokenVerifier;
}

export function createWorld(issuerAlg: SigningAlg = 'Ed25519', holderAlg: SigningAlg = 'Ed25519'): World {
  const clock = createFakeClock();
  const resolver = createFakeResolver();
  const signers = {
    ap: generateKeyPair(issuerAlg, 'ap-1'),
    ps: generateKeyPair(issuerAlg, 'ps-1'),
    as: generateKeyPair(issuerAlg, 'as-1'),
    rs: generateKeyPair(issuerAlg, 'rs-1'),
  };
  resolver.publish(AP, DWK.agent, [signers.ap]);
  resolver.publish(PS, DWK.person, [signers.ps]);
  resolver.publish(AS, DWK.access, [signers.as]);
  resolver.publish(RS, DWK.resource, [signers.rs]);
  const holder = generateKeyPair(holderAlg, 'holder-1');
  const cnf = { jwk: holder.jwk };
  const base = {
    agent: { iss: AP, sub: AGENT_ID, cnf, ps: PS },
    person: { iss: PS, aud: RS, sub: 'pairwise-123', cnf },
    resource: {
      iss: RS,
      aud: PS,
      ps: PS,
      sub: 'pairwise-123',
      presented_jti: 'pt-3ab910',
      agent_jkt: holder.thumbprint,
      scope: 'data.read',
    },
    auth: { iss: AS, dwk: DWK.access, aud: RS, ps: PS, sub: 'pairwise-123', cnf, scope: 'data.read' },
  };
  const signerOf = (kind: TokenKind) =>
    ({ agent: signers.ap, person: signers.ps, resource: signers.rs, auth: signers.as })[kind];
  const newVerifier = (deps: Partial<TokenVerifierDeps> = {}) =>
    createTokenVerifier({ clock, keys: resolver, identifierPolicy: STRICT, ...deps });
  return {
    clock,
    resolver,
    verifier: newVerifier(),
    holder,
    signers,
    baseClaims: <K extends TokenKind>(kind: K) => structuredClone(base[kind]) as unknown as IssuableClaims<K>,
    signerOf,
    issue(kind, overrides = {}, lifetimeSeconds) {
      const claims = { ...structuredClone(base[kind]), ...overrides } as unknown as IssuableClaims<
        typeof kind
      >;
      return issueToken(kind, claims, signerOf(kind), { clock, lifetimeSeconds });
    },
    newVerifier,
  };
}
