import { randomBytes } from 'node:crypto';
import {
  type AgentTokenClaims,
  type AuthTokenClaims,
  agentDomainOf,
  type Clock,
  DWK,
  type Dwk,
  type KeyPair,
  type PersonTokenClaims,
  type ResourceTokenClaims,
} from '@aauth-ref/core';
import { createTestIssuer, makeKeyPair, type TestIssuer } from './test-issuer.js';

/**
 * Token factories with sensible defaults, built on core's `issueToken`. Every factory returns the
 * token, its decoded claims, the issuer (so a test can hand it to a key resolver) and, for the
 * key-bound kinds, the holder key whose public half is `cnf.jwk`.
 */

interface CommonOptions {
  /** Default: a fresh test issuer of the right kind. */
  readonly issuer?: TestIssuer;
  readonly clock?: Clock;
  readonly lifetimeSeconds?: number;
  /** Sign with a key other than the issuer's (forgery tests). */
  readonly signer?: KeyPair;
  /** Extra or overriding claims (e.g. `{ exp: 0 }`, `{ jti: 'fixed' }`). */
  readonly claims?: Record<string, unknown>;
}

interface BoundOptions extends CommonOptions {
  /** The holder key bound in `cnf.jwk`. Default: a fresh Ed25519 key. */
  readonly key?: KeyPair;
}

export interface MadeToken<C> {
  readonly jwt: string;
  readonly claims: C;
  readonly issuer: TestIssuer;
}

export interface MadeBoundToken<C> extends MadeToken<C> {
  /** The holder's key pair: it signs requests presenting this token. */
  readonly key: KeyPair;
}

function decodeClaims<C>(jwt: string): C {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8')) as C;
}

function issuerOf(options: CommonOptions, dwk: Dwk): TestIssuer {
  return options.issuer ?? createTestIssuer({ dwk });
}

function issueWith<C>(
  issuer: TestIssuer,
  kind: 'agent' | 'person' | 'resource' | 'auth',
  claims: Record<string, unknown>,
  options: CommonOptions,
): MadeToken<C> {
  const jwt = issuer.issue(kind, { ...claims, ...options.claims } as never, {
    clock: options.clock,
    lifetimeSeconds: options.lifetimeSeconds,
    signer: options.signer,
  });
  return { jwt, claims: decodeClaims<C>(jwt), issuer };
}

/** A fresh agent identifier under the issuer's domain (`aauth:agent-…@agent.example`). */
export function makeAgentId(issuer: TestIssuer | string): string {
  const iss = typeof issuer === 'string' ? issuer : issuer.issuer;
  return `aauth:agent-${randomBytes(4).toString('hex')}@${agentDomainOf(iss)}`;
}

export interface AgentTokenOptions extends BoundOptions {
  readonly sub?: string;
  readonly ps?: string;
  readonly parent_agent?: string;
}

/** An `aa-agent+jwt` (§Agent Token Structure). */
export function makeAgentToken(options: AgentTokenOptions = {}): MadeBoundToken<AgentTokenClaims> {
  const issuer = issuerOf(options, DWK.agent);
  const key = options.key ?? makeKeyPair();
  const claims: Record<string, unknown> = { sub: options.sub ?? makeAgentId(issuer), cnf: { jwk: key.jwk } };
  if (options.ps !== undefined) claims.ps = options.ps;
  if (options.parent_agent !== undefined) claims.parent_agent = options.parent_agent;
  return { ...issueWith<AgentTokenClaims>(issuer, 'agent', claims, options), key };
}

export interface PersonTokenOptions extends BoundOptions {
  /** The resource the token is for (default `https://resource.example`). */
  readonly aud?: string;
  readonly sub?: string;
  readonly mission_s256?: string;
}

/** An `aa-person+jwt` (§Person Token Structure). */
export function makePersonToken(options: PersonTokenOptions = {}): MadeBoundToken<PersonTokenClaims> {
  const issuer = issuerOf(options, DWK.person);
  const key = options.key ?? makeKeyPair();
  const claims: Record<string, unknown> = {
    aud: options.aud ?? 'https://resource.example',
    sub: options.sub ?? `person-${randomBytes(6).toString('hex')}`,
    cnf: { jwk: key.jwk },
  };
  if (options.mission_s256 !== undefined) claims.mission_s256 = options.mission_s256;
  return { ...issueWith<PersonTokenClaims>(issuer, 'person', claims, options), key };
}

export interface ResourceTokenOptions extends CommonOptions {
  /** The PS or AS the token is for (default `https://ps.example`). */
  readonly aud?: string;
  readonly ps?: string;
  readonly sub?: string;
  readonly presented_jti?: string;
  /** The agent's key; its thumbprint becomes `agent_jkt`. Default: a fresh key. */
  readonly agentKey?: Pick<KeyPair, 'thumbprint'>;
  readonly scope?: string;
}

/** An `aa-resource+jwt` (§Resource Token Structure). */
export function makeResourceToken(options: ResourceTokenOptions = {}): MadeToken<ResourceTokenClaims> {
  const issuer = issuerOf(options, DWK.resource);
  const ps = options.ps ?? 'https://ps.example';
  const claims: Record<string, unknown> = {
    aud: options.aud ?? ps,
    ps,
    sub: options.sub ?? `person-${randomBytes(6).toString('hex')}`,
    presented_jti: options.presented_jti ?? randomBytes(16).toString('base64url'),
    agent_jkt: (options.agentKey ?? makeKeyPair()).thumbprint,
    scope: options.scope ?? 'read',
  };
  return issueWith<ResourceTokenClaims>(issuer, 'resource', claims, options);
}

export interface AuthTokenOptions extends BoundOptions {
  /** The resource the token is for (default `https://resource.example`). */
  readonly aud?: string;
  readonly ps?: string;
  readonly sub?: string;
  readonly scope?: string;
}

/** An `aa-auth+jwt` (§Auth Token Structure); the default issuer is an AS (`aauth-access.json`). */
export function makeAuthToken(options: AuthTokenOptions = {}): MadeBoundToken<AuthTokenClaims> {
  const issuer = issuerOf(options, DWK.access);
  const key = options.key ?? makeKeyPair();
  const claims: Record<string, unknown> = {
    aud: options.aud ?? 'https://resource.example',
    ps: options.ps ?? 'https://ps.example',
    sub: options.sub ?? `person-${randomBytes(6).toString('hex')}`,
    cnf: { jwk: key.jwk },
    scope: options.scope ?? 'read',
  };
  return { ...issueWith<AuthTokenClaims>(issuer, 'auth', claims, options), key };
}
