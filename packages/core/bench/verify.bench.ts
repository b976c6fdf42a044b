/**
 * `pnpm bench` (core): the cost of verifying one AAuth request, against the cryptographic limit,
 * measured side by side in one run (the machines are shared and noisy: read the ratios).
 *
 * - limit: one raw `node:crypto` Ed25519 verification of this very request's signature over its
 *   RFC 9421 signature base — what a correct verifier cannot avoid.
 * - cold:  full `verifyRequestSignature` of a `jwt`-scheme request with an empty verified-token cache
 *   (JWT parse, issuer key from the local resolver, JWT signature, `cnf.jwk` import, HTTP signature).
 * - warm:  the same with the verified token cached, as on every request after the first.
 * Target (issue: core speed): warm ≥ 0.8 × limit.
 */
import { verify } from 'node:crypto';
import { parseDictionary } from 'structured-headers';
import { Bench } from 'tinybench';
import { buildSignatureBase, normalizeHeaders } from '../src/httpsig/components.js';
import {
  type Clock,
  createLocalKeyResolver,
  createTokenVerifier,
  DEV,
  DWK,
  generateKeyPair,
  issueToken,
  type RouteSignaturePolicy,
  type SignedRequestInput,
  signRequest,
  verifyRequestSignature,
} from '../src/index.js';

const ISSUER = 'https://ap.example';
const NOW = Date.UTC(2026, 10, 29, 12, 0, 0);
const clock: Clock = { now: () => NOW };

const apKey = generateKeyPair('Ed25519', 'ap-1');
const agentKey = generateKeyPair('Ed25519', 'agent-1');
const agentToken = issueToken(
  'agent',
  { iss: ISSUER, sub: 'aauth:bench@ap.example', cnf: { jwk: agentKey.jwk }, ps: 'https://ps.example' },
  apKey,
  { clock, lifetimeSeconds: 3600 },
);

const keys = createLocalKeyResolver([
  { issuer: ISSUER, dwk: DWK.agent, keys: [apKey], metadata: { issuer: ISSUER } },
]);

const base: SignedRequestInput = {
  method: 'GET',
  url: 'https://resource.example/api/notes?limit=10',
  headers: { accept: 'application/json' },
};
const added = await signRequest(base, {
  key: agentKey,
  signatureKey: { scheme: 'jwt', jwt: agentToken },
  clock,
});
const request: SignedRequestInput = { ...base, headers: { ...base.headers, ...added } };
const policy: RouteSignaturePolicy = { schemes: ['jwt'] };

const warmDeps = {
  clock,
  keys,
  tokens: createTokenVerifier({ clock, keys, identifierPolicy: DEV }),
  identifierPolicy: DEV,
};

// The limit: one Ed25519 verification of the request's own signature over its signature base.
const signatureInput = parseDictionary(added['signature-input']).get('sig');
const signatureItem = parseDictionary(added.signature).get('sig');
if (!Array.isArray(signatureInput?.[0]) || !(signatureItem?.[0] instanceof ArrayBuffer)) {
  throw new Error('unexpected signature headers');
}
const message = Buffer.from(
  buildSignatureBase(request, normalizeHeaders(request.headers), signatureInput as never),
  'utf8',
);
const rawSignature = new Uint8Array(signatureItem[0]);

// Sanity: both paths succeed before timing them.
await verifyRequestSignature(request, policy, warmDeps);

const bench = new Bench({ time: Number(process.env.BENCH_TIME_MS ?? 3000), warmupTime: 500 });
bench
  .add('limit: node:crypto Ed25519 verify', () => {
    if (!verify(null, message, agentKey.keyObject, rawSignature)) throw new Error('limit verify failed');
  })
  .add('cold: full request verification', async () => {
    const tokens = createTokenVerifier({ clock, keys, identifierPolicy: DEV, cacheSize: 0 });
    await verifyRequestSignature(request, policy, { clock, keys, tokens, identifierPolicy: DEV });
  })
  .add('warm: request verification (token cached)', async () => {
    await verifyRequestSignature(request, policy, warmDeps);
  });

await bench.run();

const hz = (name: string): number => {
  const task = bench.tasks.find((t) => t.name.startsWith(name));
  const result = task?.result;
  if (!result || !('throughput' in result)) throw new Error(`no result for ${name}`);
  return result.throughput.mean;
};
const limit = hz('limit');
const cold = hz('cold');
const warm = hz('warm');

console.table(bench.table());
const rows = [
  ['raw Ed25519 verify (limit)', limit],
  ['cold request verification', cold],
  ['warm request verification', warm],
] as const;
console.log('\nops/s (mean)');
for (const [name, value] of rows) console.log(`  ${name.padEnd(30)} ${value.toFixed(0).padStart(8)}`);
const ratio = warm / limit;
console.log(`\nwarm/limit = ${ratio.toFixed(3)}  (target ≥ 0.8: ${ratio >= 0.8 ? 'met' : 'NOT met'})`);
console.log(`cold/limit = ${(cold / limit).toFixed(3)}`);
console.log(`node ${process.version}, ${process.arch}`);
