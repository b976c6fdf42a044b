import { expect } from 'vitest';
import type { Clock } from '../../src/clock.js';
import { DiscoveryError, type IssuerKeyResolver, type ResolveKeyOptions } from '../../src/discovery/types.js';
import type { SignatureError } from '../../src/errors.js';
import { signRequest } from '../../src/httpsig/sign.js';
import type {
  RouteSignaturePolicy,
  SignatureKeyMember,
  SignedRequestInput,
  SignRequestOptions,
  VerifiedRequestSignature,
  VerifierDeps,
} from '../../src/httpsig/types.js';
import { verifyRequestSignature } from '../../src/httpsig/verify.js';
import { STRICT } from '../../src/identifiers.js';
import { generateKeyPair, type KeyPair, type SigningAlg, type VerificationKey } from '../../src/jwk.js';
import { TokenVerificationError } from '../../src/tokens/token-error.js';
import type { TokenVerifier, VerifiedToken } from '../../src/tokens/types.js';

export const NOW_MS = Date.UTC(2026, 0, 15, 12, 0, 0);
export const NOW = NOW_MS / 1000;

export interface FakeClock extends Clock {
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

export function publicHalf(pair: KeyPair): VerificationKey {
  return { alg: pair.alg, jwk: pair.jwk, keyObject: pair.keyObject, thumbprint: pair.thumbprint };
}

/** A TokenVerifier that knows a fixed set of JWT strings. */
export interface FakeTokenVerifier extends TokenVerifier {
  readonly calls: { jwt: string; kinds: readonly string[] }[];
  accept(jwt: string, token: VerifiedToken<'agent' | 'person' | 'auth'>): void;
  reject(jwt: string, err: TokenVerificationError): void;
}

export function createFakeTokenVerifier(): FakeTokenVerifier {
  const known = new Map<string, VerifiedToken<'agent' | 'person' | 'auth'> | TokenVerificationError>();
  const calls: { jwt: string; kinds: readonly string[] }[] = [];
  return {
    calls,
    accept: (jwt, token) => known.set(jwt, token),
    reject: (jwt, err) => known.set(jwt, err),
    async verify(jwt, options) {
      calls.push({ jwt, kinds: options.kinds });
      const entry = known.get(jwt);
      if (entry === undefined) throw new TokenVerificationError('malformed', 'unknown test token');
      if (entry instanceof TokenVerificationError) throw entry;
      // biome-ignore lint/suspicious/noExplicitAny: the fake returns whatever kind was registered
      return entry as any;
    },
  };
}

/** An opaque fake agent token: the fake verifier maps it to claims whose `cnf.jwk` is `holder`. */
export function fakeAgentToken(verifier: FakeTokenVerifier, holder: KeyPair, name = 'agent-token'): string {
  const jwt = `eyJ0eXAiOiJhYS1hZ2VudCtqd3QifQ.${Buffer.from(name).toString('base64url')}.c2ln`;
  verifier.accept(jwt, {
    kind: 'agent',
    raw: jwt,
    header: { alg: 'Ed25519', typ: 'aa-agent+jwt', kid: 'ap-1' },
    claims: {
      iss: 'https://agent.example',
      dwk: 'aauth-agent.json',
      jti: name,
      iat: NOW - 10,
      exp: NOW + 3600,
      sub: 'aauth:assistant@agent.example',
      cnf: { jwk: holder.jwk },
    },
    cnfKey: publicHalf(holder),
  });
  return jwt;
}

export interface FakeKeyResolver extends IssuerKeyResolver {
  readonly calls: { iss: string; dwk: string; kid: string; refresh: boolean }[];
  publish(iss: string, dwk: string, kid: string, key: VerificationKey | DiscoveryError): void;
  publishOnRefresh(iss: string, dwk: string, kid: string, key: VerificationKey | DiscoveryError): void;
}

export function createFakeKeyResolver(): FakeKeyResolver {
  const current = new Map<string, VerificationKey | DiscoveryError>();
  const refreshed = new Map<string, VerificationKey | DiscoveryError>();
  const calls: FakeKeyResolver['calls'] = [];
  return {
    calls,
    publish: (iss, dwk, kid, key) => current.set(`${iss} ${dwk} ${kid}`, key),
    publishOnRefresh: (iss, dwk, kid, key) => refreshed.set(`${iss} ${dwk} ${kid}`, key),
    async resolveKey(iss: string, dwk: string, kid: string, options?: ResolveKeyOptions) {
      const refresh = options?.refresh === true;
      calls.push({ iss, dwk, kid, refresh });
      const id = `${iss} ${dwk} ${kid}`;
      if (refresh && refreshed.has(id)) current.set(id, refreshed.get(id)!);
      const entry = current.get(id) ?? new DiscoveryError('unknown_key', 'no such key');
      if (entry instanceof DiscoveryError) throw entry;
      return entry;
    },
    async metadata(iss: string) {
      return { issuer: iss };
    },
  };
}

export interface Harness {
  clock: FakeClock;
  tokens: FakeTokenVerifier;
  keys: FakeKeyResolver;
  deps: VerifierDeps;
  holder: KeyPair;
  agentJwt: string;
}

export function createHarness(holderAlg: SigningAlg = 'Ed25519'): Harness {
  const clock = createFakeClock();
  const tokens = createFakeTokenVerifier();
  const keys = createFakeKeyResolver();
  const holder = generateKeyPair(holderAlg, 'holder-1');
  const agentJwt = fakeAgentToken(tokens, holder);
  return { clock, tokens, keys, holder, agentJwt, deps: { clock, tokens, keys, identifierPolicy: STRICT } };
}

export interface RequestSpec {
  method?: string;
  url?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
}

export function toRequest(spec: RequestSpec = {}): SignedRequestInput {
  const body = typeof spec.body === 'string' ? new TextEncoder().encode(spec.body) : spec.body;
  return {
    method: spec.method ?? 'GET',
    url: spec.url ?? 'https://resource.example/api/data',
    headers: { host: new URL(spec.url ?? 'https://resource.example/api/data').host, ...spec.headers },
    ...(body === undefined ? {} : { body }),
  };
}

/** Signs `spec` and returns the request as it arrives, signature headers added. */
export function signed(
  spec: RequestSpec,
  options: Omit<SignRequestOptions, 'clock'> & { clock: Clock },
): SignedRequestInput {
  const request = toRequest(spec);
  const added = signRequest(request, options);
  return { ...request, headers: { ...request.headers, ...added } };
}

/** Signs with the harness holder key and the fake agent token (`jwt` scheme). */
export function signedByAgent(h: Harness, spec: RequestSpec = {}, extra: Partial<SignRequestOptions> = {}) {
  const signatureKey: SignatureKeyMember = { scheme: 'jwt', jwt: h.agentJwt };
  return signed(spec, { key: h.holder, signatureKey, clock: h.clock, ...extra });
}

export function withHeaders(request: SignedRequestInput, headers: Record<string, string | undefined>) {
  return { ...request, headers: { ...request.headers, ...headers } };
}

export function verify(
  h: Harness,
  request: SignedRequestInput,
  policy: RouteSignaturePolicy = {},
): Promise<VerifiedRequestSignature | undefined> {
  return verifyRequestSignature(request, policy, h.deps);
}

export interface ExpectedFailure {
  readonly class: abstract new (...args: never[]) => SignatureError;
  readonly code: string;
  readonly requiredInput?: readonly string[];
  readonly acceptSchemes?: readonly string[];
  readonly acceptAlgs?: readonly string[];
}

/** Awaits a rejection and checks class, wire code, status and the `Accept-*`/`required_input` lists. */
export async function expectSignatureError(
  promise: Promise<unknown>,
  expected: ExpectedFailure,
): Promise<SignatureError> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(expected.class);
  const err = caught as SignatureError;
  expect(err.error).toBe(expected.code);
  expect(err.status).toBe(401);
  expect(err.toProblem().type).toBe(`urn:ietf:params:sig-error:${expected.code}`);
  expect(err.requiredInput).toEqual(expected.requiredInput);
  expect(err.acceptSchemes).toEqual(expected.acceptSchemes);
  expect(err.acceptAlgs).toEqual(expected.acceptAlgs);
  return err;
}
