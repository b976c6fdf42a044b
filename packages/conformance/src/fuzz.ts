import { issueJktJwt, type KeyPair } from '@aauth-ref/core';
import { makeKeyPair } from '@aauth-ref/testkit';
import fc from 'fast-check';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { type ForgedRequest, forgeRequest } from './forge.js';
import {
  AS_ISSUER,
  PS_ISSUER,
  RS_ISSUER,
  type RunningServer,
  startAuthServer,
  startPersonServer,
  startResourceServer,
} from './servers.js';

/**
 * Mutation fuzzing of whole signed requests against the three servers in-process: a valid request
 * to a signed endpoint is built fresh for each run, then one to four mutations are applied (headers
 * dropped, duplicated, truncated, characters flipped, random Structured Field values in the
 * signature and AAuth headers, body bytes flipped, truncated or replaced by random JSON). The
 * property: the server answers (no exception escapes `inject`), never with a 5xx.
 */

export interface FuzzServers {
  readonly ps: RunningServer;
  readonly as: RunningServer;
  readonly rs: RunningServer;
  close(): Promise<void>;
}

export async function startFuzzServers(): Promise<FuzzServers> {
  const [ps, as, rs] = await Promise.all([
    startPersonServer(),
    startAuthServer(),
    startResourceServer({ env: { PERSON_SERVER_TRUST: 'https://ps.example' } }),
  ]);
  return {
    ps,
    as,
    rs,
    async close() {
      await Promise.all([ps.close(), as.close(), rs.close()]);
    },
  };
}

/** One valid request to a signed endpoint, built fresh (its `created` is the server's current time). */
interface Seed {
  readonly name: string;
  readonly server: 'ps' | 'as' | 'rs';
  build(servers: FuzzServers): ForgedRequest;
}

const agentKey: KeyPair = makeKeyPair();
const durableKey: KeyPair = makeKeyPair();
const AGENT_SUB = 'aauth:agent-fuzz@agent.example';

function agentToken(server: RunningServer, ps: string): string {
  return server.parties.ap.issue('agent', { sub: AGENT_SUB, cnf: { jwk: agentKey.jwk }, ps } as never, {
    clock: server.clock,
  });
}

function hwk(key: KeyPair) {
  const { kid: _kid, ...jwk } = key.jwk;
  return { scheme: 'hwk' as const, jwk: jwk as Record<string, string> };
}

function jwksUri(server: RunningServer, party: 'ps' | 'ap') {
  const p = server.parties[party];
  return {
    key: p.signingKey,
    signatureKey: { scheme: 'jwks_uri' as const, id: p.issuer, dwk: p.dwk, kid: p.signingKey.kid },
  };
}

export const SEEDS: readonly Seed[] = [
  {
    name: 'PS POST /person',
    server: 'ps',
    build: ({ ps }) =>
      forgeRequest({
        method: 'POST',
        path: '/person',
        issuer: PS_ISSUER,
        clock: ps.clock,
        body: { resource: 'https://resource.example', capabilities: ['interaction'] },
        headers: { 'aauth-capabilities': 'interaction, clarification', prefer: 'wait=0' },
        key: agentKey,
        signatureKey: agentToken(ps, PS_ISSUER),
      }),
  },
  {
    name: 'PS POST /token',
    server: 'ps',
    build: ({ ps }) =>
      forgeRequest({
        method: 'POST',
        path: '/token',
        issuer: PS_ISSUER,
        clock: ps.clock,
        body: {
          resource_token: ps.parties.resource.issue(
            'resource',
            {
              aud: PS_ISSUER,
              ps: PS_ISSUER,
              sub: 's',
              presented_jti: 'p',
              agent_jkt: agentKey.thumbprint,
              scope: 'read',
            } as never,
            { clock: ps.clock },
          ),
          justification: 'fuzz',
        },
        headers: { prefer: 'wait=5' },
        key: agentKey,
        signatureKey: agentToken(ps, PS_ISSUER),
      }),
  },
  {
    name: 'PS GET /pending/:id',
    server: 'ps',
    build: ({ ps }) =>
      forgeRequest({
        method: 'GET',
        path: `/pending/${'A'.repeat(43)}`,
        issuer: PS_ISSUER,
        clock: ps.clock,
        key: agentKey,
        signatureKey: agentToken(ps, PS_ISSUER),
      }),
  },
  {
    name: 'PS POST /agent/enroll (hwk)',
    server: 'ps',
    build: ({ ps }) =>
      forgeRequest({
        method: 'POST',
        path: '/agent/enroll',
        issuer: PS_ISSUER,
        clock: ps.clock,
        body: { name: 'fuzz' },
        key: durableKey,
        signatureKey: hwk(durableKey),
      }),
  },
  {
    name: 'PS POST /agent/token (jkt-jwt)',
    server: 'ps',
    build: ({ ps }) => {
      const ephemeral = makeKeyPair();
      return forgeRequest({
        method: 'POST',
        path: '/agent/token',
        issuer: PS_ISSUER,
        clock: ps.clock,
        body: {},
        key: ephemeral,
        signatureKey: {
          scheme: 'jkt-jwt',
          jwt: issueJktJwt(durableKey, ephemeral.jwk, { clock: ps.clock, lifetimeSeconds: 300 }),
        },
      });
    },
  },
  {
    name: 'PS POST /revoke (jwks_uri)',
    server: 'ps',
    build: ({ ps }) =>
      forgeRequest({
        method: 'POST',
        path: '/revoke',
        issuer: PS_ISSUER,
        clock: ps.clock,
        body: { iss: ps.parties.ap.issuer, jti: 'fuzz' },
        ...jwksUri(ps, 'ap'),
      }),
  },
  {
    name: 'AS POST /token (jwks_uri)',
    server: 'as',
    build: ({ as }) =>
      forgeRequest({
        method: 'POST',
        path: '/token',
        issuer: AS_ISSUER,
        clock: as.clock,
        body: {
          resource_token: as.parties.resource.issue(
            'resource',
            {
              aud: AS_ISSUER,
              ps: as.parties.ps.issuer,
              sub: 's',
              presented_jti: 'p',
              agent_jkt: agentKey.thumbprint,
              scope: 'read',
            } as never,
            { clock: as.clock },
          ),
          agent_token: agentToken(as, as.parties.ps.issuer),
        },
        ...jwksUri(as, 'ps'),
      }),
  },
  {
    name: 'AS GET /token/pending/:id',
    server: 'as',
    build: ({ as }) =>
      forgeRequest({
        method: 'GET',
        path: `/token/pending/${'B'.repeat(43)}`,
        issuer: AS_ISSUER,
        clock: as.clock,
        ...jwksUri(as, 'ps'),
      }),
  },
  {
    name: 'RS GET /api/notes (auth token)',
    server: 'rs',
    build: ({ rs }) =>
      forgeRequest({
        method: 'GET',
        path: '/api/notes',
        issuer: RS_ISSUER,
        clock: rs.clock,
        key: agentKey,
        signatureKey: rs.parties.ps.issue(
          'auth',
          {
            aud: RS_ISSUER,
            ps: rs.parties.ps.issuer,
            sub: 'p',
            cnf: { jwk: agentKey.jwk },
            scope: 'notes.read notes.write',
          } as never,
          { clock: rs.clock },
        ),
      }),
  },
  {
    name: 'RS POST /api/notes (auth token)',
    server: 'rs',
    build: ({ rs }) =>
      forgeRequest({
        method: 'POST',
        path: '/api/notes',
        issuer: RS_ISSUER,
        clock: rs.clock,
        body: { text: 'fuzz' },
        key: agentKey,
        signatureKey: rs.parties.ps.issue(
          'auth',
          {
            aud: RS_ISSUER,
            ps: rs.parties.ps.issuer,
            sub: 'p',
            cnf: { jwk: agentKey.jwk },
            scope: 'notes.read notes.write',
          } as never,
          { clock: rs.clock },
        ),
      }),
  },
  {
    name: 'RS POST /authorize (person token)',
    server: 'rs',
    build: ({ rs }) =>
      forgeRequest({
        method: 'POST',
        path: '/authorize',
        issuer: RS_ISSUER,
        clock: rs.clock,
        body: { scope: 'notes.read' },
        key: agentKey,
        signatureKey: rs.parties.ps.issue(
          'person',
          { aud: RS_ISSUER, sub: 'p', cnf: { jwk: agentKey.jwk } } as never,
          { clock: rs.clock },
        ),
      }),
  },
  {
    name: 'RS GET /api/agent/whoami (agent token)',
    server: 'rs',
    build: ({ rs }) =>
      forgeRequest({
        method: 'GET',
        path: '/api/agent/whoami',
        issuer: RS_ISSUER,
        clock: rs.clock,
        key: agentKey,
        signatureKey: agentToken(rs, 'https://ps.example'),
      }),
  },
];

// --- Mutations ------------------------------------------------------------------------------------------

/** Header names the mutations aim at: the signature headers, the body's, and the AAuth request headers. */
const TARGET_HEADERS = [
  'signature-input',
  'signature',
  'signature-key',
  'content-digest',
  'content-type',
  'aauth-capabilities',
  'prefer',
  'authorization',
] as const;

type Mutation =
  | { kind: 'drop'; header: string }
  | { kind: 'duplicate'; header: string }
  | { kind: 'truncate'; header: string; at: number }
  | { kind: 'flip-char'; header: string; at: number; char: string }
  | { kind: 'replace'; header: string; value: string }
  | { kind: 'body-flip'; at: number; bit: number }
  | { kind: 'body-truncate'; at: number }
  | { kind: 'body-json'; value: unknown };

/** Printable ASCII, as a header value may carry (RFC 9110 field-vchar plus space). */
const printable = fc.string({
  unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
  maxLength: 300,
});

/** Random RFC 8941 Structured Field values: Dictionaries and Lists of Items and Inner Lists with parameters. */
const sfKey = fc.stringMatching(/^[a-z*][a-z0-9_.*-]{0,8}$/);
const sfBareItem = fc.oneof(
  fc.integer({ min: -1e15, max: 1e15 }).map(String),
  fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }).map((d) => d.toFixed(3)),
  fc.stringMatching(/^[ !#-[\]-~]{0,40}$/).map((s) => `"${s}"`),
  fc.stringMatching(/^[A-Za-z*][A-Za-z0-9:/!#$%&'*+.^_`|~-]{0,20}$/),
  fc.uint8Array({ maxLength: 80 }).map((b) => `:${Buffer.from(b).toString('base64')}:`),
  fc.constantFrom('?0', '?1'),
  // The spec's own vocabulary, so parsers get past the first member more often.
  fc.constantFrom(
    'jwt',
    'hwk',
    'jwks_uri',
    'jkt-jwt',
    'x509',
    'interaction',
    'clarification',
    'payment',
    '"@method"',
    '"signature-key"',
  ),
);
const sfParams = fc
  .array(fc.tuple(sfKey, fc.option(sfBareItem, { nil: undefined })), { maxLength: 4 })
  .map((ps) => ps.map(([k, v]) => (v === undefined ? `;${k}` : `;${k}=${v}`)).join(''));
const sfItem = fc.tuple(sfBareItem, sfParams).map(([v, p]) => `${v}${p}`);
const sfInnerList = fc
  .tuple(fc.array(sfItem, { maxLength: 5 }), sfParams)
  .map(([items, p]) => `(${items.join(' ')})${p}`);
const sfMember = fc.oneof(sfItem, sfInnerList);
export const sfDictionary = fc
  .array(fc.tuple(fc.oneof(sfKey, fc.constant('sig')), fc.option(sfMember, { nil: undefined })), {
    minLength: 1,
    maxLength: 4,
  })
  .map((members) => members.map(([k, v]) => (v === undefined ? k : `${k}=${v}`)).join(', '));
const sfList = fc.array(sfMember, { minLength: 1, maxLength: 5 }).map((m) => m.join(', '));

/** JSON with the member names attackers use (`__proto__`, `constructor`, `prototype`) mixed in. */
const hostileJson = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.jsonValue({ maxDepth: 2 }),
    fc.dictionary(
      fc.oneof(
        fc.constantFrom(
          '__proto__',
          'constructor',
          'prototype',
          'resource',
          'resource_token',
          'agent_token',
          'scope',
        ),
        fc.string({ maxLength: 10 }),
      ),
      tie('value'),
      { maxKeys: 4 },
    ),
  ),
})).value;

const headerName = fc.constantFrom(...TARGET_HEADERS);
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  headerName.map((header) => ({ kind: 'drop' as const, header })),
  headerName.map((header) => ({ kind: 'duplicate' as const, header })),
  fc.record({ kind: fc.constant('truncate' as const), header: headerName, at: fc.nat({ max: 2000 }) }),
  fc.record({
    kind: fc.constant('flip-char' as const),
    header: headerName,
    at: fc.nat({ max: 2000 }),
    char: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
  }),
  fc.record({
    kind: fc.constant('replace' as const),
    header: headerName,
    value: fc.oneof(sfDictionary, sfList, printable),
  }),
  fc.record({ kind: fc.constant('body-flip' as const), at: fc.nat({ max: 4000 }), bit: fc.nat({ max: 7 }) }),
  fc.record({ kind: fc.constant('body-truncate' as const), at: fc.nat({ max: 4000 }) }),
  hostileJson.map((value) => ({ kind: 'body-json' as const, value })),
);

export const fuzzCase = fc.record({
  seed: fc.nat({ max: SEEDS.length - 1 }),
  mutations: fc.array(mutation, { minLength: 1, maxLength: 4 }),
});

export type FuzzCase = typeof fuzzCase extends fc.Arbitrary<infer T> ? T : never;

type Headers = Record<string, string | string[]>;

function applyMutation(headers: Headers, body: Buffer | undefined, m: Mutation): Buffer | undefined {
  const current = (name: string) => {
    const value = headers[name];
    return Array.isArray(value) ? value.join(', ') : value;
  };
  switch (m.kind) {
    case 'drop':
      delete headers[m.header];
      return body;
    case 'duplicate': {
      const value = current(m.header);
      if (value !== undefined) headers[m.header] = [value, value];
      return body;
    }
    case 'truncate': {
      const value = current(m.header);
      if (value !== undefined) headers[m.header] = value.slice(0, m.at % (value.length + 1));
      return body;
    }
    case 'flip-char': {
      const value = current(m.header);
      if (value !== undefined && value.length > 0) {
        const at = m.at % value.length;
        headers[m.header] = `${value.slice(0, at)}${m.char}${value.slice(at + 1)}`;
      }
      return body;
    }
    case 'replace':
      headers[m.header] = m.value;
      return body;
    case 'body-flip': {
      if (body === undefined || body.length === 0) return body;
      const copy = Buffer.from(body);
      const at = m.at % copy.length;
      copy[at] = copy[at]! ^ (1 << m.bit);
      return copy;
    }
    case 'body-truncate':
      return body === undefined ? body : body.subarray(0, m.at % (body.length + 1));
    case 'body-json':
      return Buffer.from(JSON.stringify(m.value) ?? 'null');
  }
}

const ISSUER_OF = { ps: PS_ISSUER, as: AS_ISSUER, rs: RS_ISSUER } as const;

/** Builds the mutated request and sends it; resolves the response (never rejects on a server fault). */
export async function runFuzzCase(servers: FuzzServers, input: FuzzCase): Promise<LightMyRequestResponse> {
  const seed = SEEDS[input.seed]!;
  const server = servers[seed.server];
  // A little time passes between requests, as it would: replay entries and pending answers move on.
  server.clock.advance(50);
  const built = seed.build(servers);
  const headers: Headers = { ...built.headers };
  let body = built.body;
  for (const m of input.mutations) body = applyMutation(headers, body, m);
  const app: FastifyInstance = server.app;
  return app.inject({
    method: built.method as 'GET',
    url: built.path,
    headers: { host: new URL(ISSUER_OF[seed.server]).host, ...headers },
    ...(body === undefined ? {} : { payload: body }),
  });
}

/** The property every fuzz case must hold; returns a description of the violation, if any. */
export function violationOf(response: LightMyRequestResponse): string | undefined {
  if (response.statusCode >= 500) return `${response.statusCode} ${response.body.slice(0, 200)}`;
  if (response.statusCode === 403 && response.headers['signature-error'] !== undefined) {
    return '403 with Signature-Error';
  }
  return undefined;
}

/** `/healthz` of each server answers 200 (the fuzzing left them serving). */
export async function allHealthy(servers: FuzzServers): Promise<boolean> {
  const answers = await Promise.all(
    (['ps', 'as', 'rs'] as const).map((name) =>
      servers[name].app.inject({
        method: 'GET',
        url: '/healthz',
        headers: { host: new URL(ISSUER_OF[name]).host },
      }),
    ),
  );
  return answers.every((answer) => answer.statusCode === 200);
}
