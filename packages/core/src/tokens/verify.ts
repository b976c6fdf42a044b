import { DiscoveryError } from '../discovery/types.js';
import { type IdentifierPolicy, isAgentIdentifier, isHttpsUrl, isServerIdentifier } from '../identifiers.js';
import {
  importPublicJwk,
  KeyCheckError,
  type SigningAlg,
  SUPPORTED_ALGS,
  type VerificationKey,
  verifyBytes,
} from '../jwk.js';
import { r3TokenClaimsProblem } from '../r3/claims.js';
import {
  ACCEPTED_DWK,
  type ClaimsByKind,
  OPTIONAL_STRING_CLAIMS,
  REQUIRED_STRING_CLAIMS,
  TOKEN_TYP,
  type TokenKind,
} from './claims.js';
import { type DecodedJws, decodeCompactJws } from './jwt-codec.js';
import { type TokenFailureReason, TokenVerificationError } from './token-error.js';
import type { TokenVerifier, TokenVerifierDeps, VerifiedToken, VerifyTokenOptions } from './types.js';
import { createVerifiedTokenCache } from './verified-token-cache.js';

/**
 * Verification of the four AAuth JWTs (§Agent Token Verification, §Person Token Verification,
 * §Resource Token Verification, §Auth Token Verification) in the order of Signature-Key §3.8: every
 * check that needs neither a fetch nor a signature comes first, so junk costs no discovery.
 */

const DEFAULT_SKEW_SECONDS = 60;
const DEFAULT_CACHE_SIZE = 10_000;

/**
 * Lifetime caps enforced on receipt: only the MUSTs (§Person Token Structure, §Auth Token
 * Structure). The agent (24 h) and resource (5 min) caps are SHOULDs; the PS/AS apply their own.
 */
const ENFORCED_LIFETIME_SECONDS: Readonly<Partial<Record<TokenKind, number>>> = { person: 3600, auth: 3600 };

const KIND_BY_TYP: ReadonlyMap<string, TokenKind> = new Map(
  (Object.keys(TOKEN_TYP) as TokenKind[]).map((kind) => [TOKEN_TYP[kind], kind]),
);

/** Members §Request-Context Binding step 6 requires before a JWK is decoded at all. */
const REQUIRED_JWK_MEMBERS: Readonly<Record<string, readonly string[]>> = {
  OKP: ['crv', 'x'],
  EC: ['crv', 'x', 'y'],
  RSA: ['n', 'e'],
};

/** RFC 7638 SHA-256 thumbprint, base64url without padding: 32 bytes → 43 characters. */
const S256_THUMBPRINT = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;

/** The token kind a header `typ` names, if any. */
export function tokenKindOfTyp(typ: unknown): TokenKind | undefined {
  return typeof typ === 'string' ? KIND_BY_TYP.get(typ) : undefined;
}

function fail(reason: TokenFailureReason, message: string, cause?: unknown): never {
  throw new TokenVerificationError(reason, message, cause === undefined ? undefined : { cause });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isNumericDate(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/**
 * A JWS header `alg` we verify: fully specified and implemented (§Signature Algorithms). `none`,
 * `EdDSA`, symmetric and unimplemented identifiers all fail with `alg`.
 */
export function checkHeaderAlg(alg: unknown): SigningAlg {
  if (typeof alg !== 'string' || !(SUPPORTED_ALGS as readonly string[]).includes(alg)) {
    fail('alg', `JWT alg ${String(alg)} is not accepted (fully-specified Ed25519 or ES256 required)`);
  }
  return alg as SigningAlg;
}

/** §Request-Context Binding step 6, first half: structurally incomplete confirmation keys. */
function checkCnfStructure(cnf: unknown): void {
  if (!isRecord(cnf) || !isRecord(cnf.jwk)) fail('malformed', 'cnf.jwk is required');
  const jwk = cnf.jwk;
  if (typeof jwk.kty !== 'string' || jwk.kty.length === 0) fail('malformed', 'cnf.jwk has no kty');
  for (const member of REQUIRED_JWK_MEMBERS[jwk.kty] ?? []) {
    if (typeof jwk[member] !== 'string')
      fail('malformed', `cnf.jwk lacks ${member} required for kty ${jwk.kty}`);
  }
}

/** §Request-Context Binding step 6, second half: decode the key under Algorithm Determination. */
export function importConfirmationKey(cnf: unknown): VerificationKey {
  checkCnfStructure(cnf);
  try {
    return importPublicJwk((cnf as { jwk: unknown }).jwk);
  } catch (err) {
    if (err instanceof KeyCheckError) {
      const unsupported = err.problem === 'missing_alg' || err.problem === 'unsupported';
      fail(unsupported ? 'unsupported_key' : 'key', `cnf.jwk: ${err.message}`, err);
    }
    throw err;
  }
}

/**
 * Earlier drafts named `presented_jti` `person_token_jti`; a resource token carrying only the older
 * name is read as if it carried `presented_jti` (docs/spec-decisions.md). Both names with different
 * values leave the token ambiguous, so it is malformed.
 */
function adoptPersonTokenJtiAlias(claims: Record<string, unknown>): void {
  const alias = claims.person_token_jti;
  if (alias === undefined) return;
  if (claims.presented_jti === undefined) claims.presented_jti = alias;
  else if (claims.presented_jti !== alias) {
    fail('malformed', 'resource token presented_jti and person_token_jti differ');
  }
}

/** Claim presence and JSON types, plus the identifier rules that need no network (cheap checks). */
function checkClaims(kind: TokenKind, claims: Record<string, unknown>, policy: IdentifierPolicy): void {
  if (kind === 'resource') adoptPersonTokenJtiAlias(claims);
  for (const name of ['iss', 'dwk', 'jti', ...REQUIRED_STRING_CLAIMS[kind]]) {
    const value = claims[name];
    if (typeof value !== 'string' || value.length === 0)
      fail('malformed', `${kind} token claim ${name} is missing`);
  }
  for (const name of OPTIONAL_STRING_CLAIMS[kind]) {
    if (claims[name] !== undefined && typeof claims[name] !== 'string') {
      fail('malformed', `${kind} token claim ${name} is not a string`);
    }
  }
  if (!isNumericDate(claims.iat)) fail('malformed', `${kind} token claim iat is missing`);
  if (!isNumericDate(claims.exp)) fail('malformed', `${kind} token claim exp is missing`);
  if (claims.nbf !== undefined && !isNumericDate(claims.nbf)) fail('malformed', 'nbf is not a number');
  if (kind !== 'resource') checkCnfStructure(claims.cnf);
  switch (kind) {
    case 'agent':
      // §Agent Token Verification steps 6-7, §Sub-Agent Identity.
      if (!isAgentIdentifier(claims.sub, policy))
        fail('malformed', 'agent token sub is not an agent identifier');
      if (claims.ps !== undefined && !isServerIdentifier(claims.ps, policy)) {
        fail('malformed', 'agent token ps is not a server identifier');
      }
      if (claims.parent_agent !== undefined && !isAgentIdentifier(claims.parent_agent, policy)) {
        fail('malformed', 'agent token parent_agent is not an agent identifier');
      }
      break;
    case 'person':
      // §Person Token Structure: "A person token MUST NOT contain scope or account."
      if ('scope' in claims || 'account' in claims)
        fail('malformed', 'a person token must not carry scope or account');
      break;
    case 'resource':
      if (!S256_THUMBPRINT.test(claims.agent_jkt as string)) {
        fail('malformed', 'resource token agent_jkt is not a SHA-256 JWK thumbprint');
      }
      if (claims.interaction !== undefined) {
        const { interaction } = claims;
        if (
          !isRecord(interaction) ||
          !isHttpsUrl(interaction.url, policy) ||
          typeof interaction.code !== 'string' ||
          interaction.code.length === 0
        ) {
          fail('malformed', 'resource token interaction needs an https url and a code');
        }
      }
      break;
    case 'auth':
      break;
  }
  if (kind === 'resource' || kind === 'auth') {
    const problem = r3TokenClaimsProblem(kind, claims, policy);
    if (problem !== undefined) fail('malformed', problem);
  }
}

function mapDiscoveryError(err: unknown): never {
  if (!(err instanceof DiscoveryError)) throw err;
  switch (err.reason) {
    case 'issuer_missing':
    case 'issuer_mismatch':
    case 'unknown_key':
    case 'key':
    case 'unsupported_key':
      return fail(err.reason, err.message, err);
    default:
      return fail('discovery', 'the issuer keys could not be obtained', err);
  }
}

function sameKey(a: VerificationKey, b: VerificationKey): boolean {
  return a === b || (a.alg === b.alg && a.thumbprint === b.thumbprint);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const member of Object.values(value)) deepFreeze(member);
  }
  return value;
}

function checkAudience(token: VerifiedToken, audience: string | undefined): void {
  // Agent tokens carry no `aud`; the option applies to the kinds that do.
  if (audience === undefined || token.kind === 'agent') return;
  if ((token.claims as { aud: string }).aud !== audience)
    fail('audience', `${token.kind} token aud is not ${audience}`);
}

/** Creates the verifier of the four AAuth JWTs, with its verified-token cache. */
export function createTokenVerifier(deps: TokenVerifierDeps): TokenVerifier {
  const { clock, keys, identifierPolicy } = deps;
  const skew = deps.skewSeconds ?? DEFAULT_SKEW_SECONDS;
  const cache = createVerifiedTokenCache(deps.cacheSize ?? DEFAULT_CACHE_SIZE);

  async function resolveIssuerKey(
    iss: string,
    dwk: string,
    kid: string,
    refresh: boolean,
  ): Promise<VerificationKey> {
    try {
      return await keys.resolveKey(iss, dwk, kid, refresh ? { refresh: true } : undefined);
    } catch (err) {
      return mapDiscoveryError(err);
    }
  }

  async function verifySignature(decoded: DecodedJws, alg: SigningAlg): Promise<void> {
    const { header, payload, signingInput, signature } = decoded;
    const iss = payload.iss as string;
    const dwk = payload.dwk as string;
    const kid = header.kid as string;
    const data = Buffer.from(signingInput, 'utf8');
    const key = await resolveIssuerKey(iss, dwk, kid, false);
    if (key.alg !== alg) fail('alg', `JWT alg ${alg} disagrees with the issuer key alg ${key.alg}`);
    if (verifyBytes(key, data, signature)) return;
    // The issuer may have rotated under the same kid: one refetch (rate-limited by the resolver).
    const refreshed = await resolveIssuerKey(iss, dwk, kid, true);
    if (refreshed.alg !== alg) {
      fail('alg', `JWT alg ${alg} disagrees with the issuer key alg ${refreshed.alg}`);
    }
    if (sameKey(refreshed, key) || !verifyBytes(refreshed, data, signature)) {
      fail('signature', 'the JWT signature does not verify');
    }
  }

  async function verifyCold(jwt: string, kinds: readonly TokenKind[]): Promise<VerifiedToken> {
    const decoded = decodeCompactJws(jwt);
    const { header, payload } = decoded;
    const kind = tokenKindOfTyp(header.typ);
    if (kind === undefined || !kinds.includes(kind)) {
      fail('typ', `JWT typ ${String(header.typ)} is not accepted here`);
    }
    const alg = checkHeaderAlg(header.alg);
    if (typeof header.kid !== 'string' || header.kid.length === 0) fail('malformed', 'JWT header has no kid');
    checkClaims(kind, payload, identifierPolicy);
    if (!(ACCEPTED_DWK[kind] as readonly string[]).includes(payload.dwk as string)) {
      fail('dwk', `dwk ${String(payload.dwk)} is not accepted for a ${kind} token`);
    }
    const iat = payload.iat as number;
    const exp = payload.exp as number;
    const now = clock.now() / 1000;
    if (now >= exp) fail('expired', `${kind} token has expired`);
    if (iat > now + skew) fail('not_yet_valid', `${kind} token iat is in the future`);
    if (payload.nbf !== undefined && (payload.nbf as number) > now + skew) {
      fail('not_yet_valid', 'nbf is in the future');
    }
    if (exp <= iat) fail('malformed', `${kind} token exp is not after iat`);
    const cap = ENFORCED_LIFETIME_SECONDS[kind];
    if (cap !== undefined && exp - iat > cap) fail('lifetime', `${kind} token lifetime exceeds ${cap} s`);
    if (!isServerIdentifier(payload.iss, identifierPolicy)) {
      fail('issuer', 'iss is not a valid server identifier');
    }
    await verifySignature(decoded, alg);
    const cnfKey = kind === 'resource' ? undefined : importConfirmationKey(payload.cnf);
    // Shared by every cache hit, so frozen; the KeyObject inside cnfKey is left alone.
    return Object.freeze({
      kind,
      raw: jwt,
      header: deepFreeze(header),
      claims: deepFreeze(payload) as unknown as ClaimsByKind[TokenKind],
      cnfKey: cnfKey && Object.freeze(cnfKey),
    }) as VerifiedToken;
  }

  return {
    async verify<K extends TokenKind>(
      jwt: string,
      options: VerifyTokenOptions<K>,
    ): Promise<VerifiedToken<K>> {
      const kinds: readonly TokenKind[] = options.kinds;
      const cached = cache === undefined || typeof jwt !== 'string' ? undefined : cache.get(jwt);
      if (cached !== undefined) {
        if (!kinds.includes(cached.kind)) fail('typ', `JWT typ ${cached.header.typ} is not accepted here`);
        if (clock.now() / 1000 >= cached.claims.exp) {
          cache!.delete(jwt);
          fail('expired', `${cached.kind} token has expired`);
        }
        checkAudience(cached, options.audience);
        return cached as VerifiedToken<K>;
      }
      const token = await verifyCold(jwt, kinds);
      // aud is checked after the signature, so the cache may keep a token verified for another audience.
      cache?.set(jwt, token);
      checkAudience(token, options.audience);
      return token as VerifiedToken<K>;
    },
  };
}
