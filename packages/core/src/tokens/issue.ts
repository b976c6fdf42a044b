import { randomBytes } from 'node:crypto';
import { epochSeconds } from '../clock.js';
import { DEV, isAgentIdentifier } from '../identifiers.js';
import { checkPublicJwk, type KeyPair, type PublicJwk, SUPPORTED_ALGS, signBytes } from '../jwk.js';
import { r3TokenClaimsProblem } from '../r3/claims.js';
import {
  ACCEPTED_DWK,
  type ClaimsByKind,
  DWK,
  type JwtHeader,
  MAX_LIFETIME_SECONDS,
  OPTIONAL_STRING_CLAIMS,
  REQUIRED_STRING_CLAIMS,
  TOKEN_TYP,
  type TokenKind,
} from './claims.js';
import { encodeSigningInput, serializeCompactJws } from './jwt-codec.js';
import type { IssuableClaims, IssueTokenOptions, TokenSigner } from './types.js';

/**
 * Issuance of the four AAuth JWTs. Every refusal here is a
 * programming error of the issuing server (a `TypeError`), never a client-facing condition.
 */

const DEFAULT_DWK: Readonly<Record<TokenKind, string | undefined>> = {
  agent: DWK.agent,
  person: DWK.person,
  resource: DWK.resource,
  // An auth token comes from a PS (aauth-person.json) or an AS (aauth-access.json): the issuer says which.
  auth: undefined,
};

/** A fresh `jti`: 128 random bits, base64url. */
export function generateJti(): string {
  return randomBytes(16).toString('base64url');
}

function requireSigner(signer: TokenSigner): void {
  if (!(SUPPORTED_ALGS as readonly string[]).includes(signer.alg)) {
    throw new TypeError(`cannot sign with alg ${String(signer.alg)}`);
  }
  if (typeof signer.kid !== 'string' || signer.kid.length === 0)
    throw new TypeError('the signing key has no kid');
}

function checkedCnf(kind: TokenKind, cnf: unknown): { jwk: PublicJwk } {
  if (typeof cnf !== 'object' || cnf === null || !('jwk' in cnf)) {
    throw new TypeError(`a ${kind} token requires cnf.jwk`);
  }
  try {
    return { jwk: checkPublicJwk((cnf as { jwk: unknown }).jwk) };
  } catch (cause) {
    throw new TypeError(`${kind} token cnf.jwk is not an acceptable public key`, { cause });
  }
}

function computeExp(kind: TokenKind, iat: number, claimedExp: unknown, options: IssueTokenOptions): number {
  const cap = MAX_LIFETIME_SECONDS[kind];
  const lifetime = options.lifetimeSeconds ?? cap;
  if (!Number.isFinite(lifetime) || lifetime <= 0) throw new TypeError('lifetimeSeconds must be positive');
  let exp = iat + Math.min(lifetime, cap);
  if (claimedExp !== undefined) {
    if (typeof claimedExp !== 'number' || !Number.isFinite(claimedExp))
      throw new TypeError('exp must be a number');
    exp = Math.min(exp, claimedExp);
  }
  for (const bound of options.notAfter ?? []) {
    if (bound !== undefined) exp = Math.min(exp, Math.floor(bound));
  }
  if (exp <= iat) throw new TypeError(`${kind} token exp would not be after iat`);
  return exp;
}

/**
 * Fills in `iat`, `exp`, `jti` and `dwk` and checks the claims a `kind` token must carry. The PS uses
 * it directly when it needs the final `jti`/`exp` for its records before signing; `issueToken` calls it.
 * Throws `TypeError`.
 */
export function completeTokenClaims<K extends TokenKind>(
  kind: K,
  claims: IssuableClaims<K>,
  options: IssueTokenOptions,
): ClaimsByKind[K] {
  const input = claims as Record<string, unknown>;
  for (const name of ['iss', ...REQUIRED_STRING_CLAIMS[kind]]) {
    if (typeof input[name] !== 'string' || (input[name] as string).length === 0) {
      throw new TypeError(`a ${kind} token requires the ${name} claim`);
    }
  }
  for (const name of OPTIONAL_STRING_CLAIMS[kind]) {
    if (input[name] !== undefined && typeof input[name] !== 'string') {
      throw new TypeError(`${kind} token claim ${name} must be a string`);
    }
  }
  // §Person Token Structure: a person token identifies, it does not authorize.
  if (kind === 'person' && ('scope' in input || 'account' in input)) {
    throw new TypeError('a person token MUST NOT contain scope or account');
  }
  if (kind === 'agent') {
    if (!isAgentIdentifier(input.sub, DEV)) throw new TypeError('agent token sub is not an agent identifier');
    if (input.parent_agent !== undefined && !isAgentIdentifier(input.parent_agent, DEV)) {
      throw new TypeError('agent token parent_agent is not an agent identifier');
    }
  }
  if (kind === 'resource' || kind === 'auth') {
    const problem = r3TokenClaimsProblem(kind, input, DEV);
    if (problem !== undefined) throw new TypeError(problem);
  }
  const dwk = input.dwk ?? DEFAULT_DWK[kind];
  if (typeof dwk !== 'string')
    throw new TypeError(`a ${kind} token requires dwk (aauth-person.json or aauth-access.json)`);
  if (!(ACCEPTED_DWK[kind] as readonly string[]).includes(dwk)) {
    throw new TypeError(`dwk ${dwk} is not valid for a ${kind} token`);
  }
  const iat = input.iat ?? epochSeconds(options.clock);
  if (typeof iat !== 'number' || !Number.isFinite(iat)) throw new TypeError('iat must be a number');
  const exp = computeExp(kind, iat, input.exp, options);
  const jti = input.jti ?? generateJti();
  if (typeof jti !== 'string' || jti.length === 0) throw new TypeError('jti must be a non-empty string');
  const out: Record<string, unknown> = { ...input, dwk, jti, iat, exp };
  if (kind !== 'resource') out.cnf = checkedCnf(kind, input.cnf);
  return out as ClaimsByKind[K];
}

/** Signs `header`.`payload` into a compact JWS. */
export function signJws(
  header: JwtHeader,
  payload: Record<string, unknown>,
  signer: Pick<KeyPair, 'alg' | 'privateKey'>,
) {
  const signingInput = encodeSigningInput(header, payload);
  return serializeCompactJws(signingInput, signBytes(signer, Buffer.from(signingInput, 'utf8')));
}

/**
 * Issues an AAuth JWT of `kind` (§Agent Token Structure, §Person Token Structure, §Resource Token
 * Structure, §Auth Token Structure): header `{alg, typ, kid}`, `exp` capped by the type's maximum
 * and every `notAfter`. Returns the compact JWS. Throws `TypeError` on claims the type forbids.
 */
export function issueToken<K extends TokenKind>(
  kind: K,
  claims: IssuableClaims<K>,
  signer: TokenSigner,
  options: IssueTokenOptions,
): string {
  requireSigner(signer);
  const payload = completeTokenClaims(kind, claims, options);
  return signJws({ alg: signer.alg, typ: TOKEN_TYP[kind], kid: signer.kid }, payload, signer);
}
