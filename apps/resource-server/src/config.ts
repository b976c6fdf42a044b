import { DEV, type IdentifierPolicy, isServerIdentifier, STRICT } from '@aauth-ref/core';
import {
  type CommonConfigOptions,
  defineEnvVar,
  type EnvContext,
  type EnvSpec,
  type ParseConfigOptions,
  parseCommonConfig,
  retentionEnvSpec,
  type ServerConfig,
} from '@aauth-ref/fastify';
import { Type } from '@sinclair/typebox';
import { DEMO_SCOPES, REQUIRED_SCOPES } from './scopes.js';

/**
 * The demo resource's configuration: the common variables of the server kit plus its own. How the
 * resource decides whom to trust is here, and documented in the README (*Demo resource server*).
 */

export const RESOURCE_SERVER_NAME = 'resource-server';
export const DEFAULT_PORT = 3003;

/**
 * Which Person Servers the resource trusts for person tokens and PS-issued auth tokens:
 * `verified` — any PS (§PS Authorization Access: "accepts identity claims from whichever PS the agent
 * declares"); an auth token from a PS is accepted once this resource has verified a person token from
 * that PS. Otherwise an explicit list of PS identifiers.
 */
export type PersonServerTrust =
  | { readonly mode: 'verified' }
  | { readonly mode: 'list'; readonly issuers: ReadonlySet<string> };

function identifierPolicyOf(ctx: EnvContext): IdentifierPolicy {
  return ctx.devMode ? DEV : STRICT;
}

function splitList(raw: string): string[] {
  return raw.split(/[\s,]+/).filter((entry) => entry.length > 0);
}

function parseScopeDescriptions(raw: string): Readonly<Record<string, string>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new TypeError('must be a JSON object mapping scope values to Markdown descriptions');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new TypeError('must be a JSON object mapping scope values to Markdown descriptions');
  }
  const out: Record<string, string> = {};
  for (const [scope, description] of Object.entries(parsed)) {
    // RFC 6749 §3.3 scope-token: printable ASCII except space, `"` and `\`.
    if (!/^[\x21\x23-\x5B\x5D-\x7E]+$/.test(scope))
      throw new TypeError(`${JSON.stringify(scope)} is not a scope value`);
    if (typeof description !== 'string' || description.length === 0) {
      throw new TypeError(`the description of ${scope} must be a non-empty string`);
    }
    out[scope] = description;
  }
  return Object.freeze(out);
}

export const resourceServerEnvSpec = {
  PERSON_SERVER_TRUST: defineEnvVar({
    description:
      'Person Servers trusted for person tokens and PS-issued auth tokens (three-party): "verified" (any PS; its auth tokens are accepted once this resource has verified one of its person tokens) or a comma/space-separated list of PS identifiers.',
    default: 'verified',
    parse: (raw): PersonServerTrust => {
      if (raw.trim() === 'verified') return Object.freeze({ mode: 'verified' });
      return Object.freeze({ mode: 'list', issuers: new Set(splitList(raw)) });
    },
    check: (value, ctx) => {
      if (value.mode !== 'list') return undefined;
      if (value.issuers.size === 0) return 'lists no Person Server';
      const bad = [...value.issuers].filter((iss) => !isServerIdentifier(iss, identifierPolicyOf(ctx)));
      return bad.length > 0 ? `not server identifiers: ${bad.join(', ')}` : undefined;
    },
  }),
  ACCESS_SERVER: defineEnvVar({
    description:
      "The identifier of this resource's access server (four-party). When set, resource tokens for ACCESS_SERVER_SCOPES name it as `aud` and its auth tokens (aauth-access.json) are trusted.",
    optional: true,
    parse: (raw) => raw.trim(),
    check: (value, ctx) =>
      isServerIdentifier(value, identifierPolicyOf(ctx))
        ? undefined
        : `${JSON.stringify(value)} is not a server identifier`,
  }),
  ACCESS_SERVER_SCOPES: defineEnvVar({
    description:
      'Scopes delegated to ACCESS_SERVER (space/comma separated); a resource token requesting any of them is addressed to the access server. Default: every scope when ACCESS_SERVER is set.',
    optional: true,
    parse: (raw): readonly string[] => Object.freeze(splitList(raw)),
  }),
  SCOPES: defineEnvVar({
    description:
      'Scope descriptions published as scope_descriptions: a JSON object of scope value → Markdown. Must keep notes.read and notes.write (the notes API requires them).',
    default: JSON.stringify(DEMO_SCOPES),
    defaultHelp: 'the demo scopes notes.read and notes.write',
    parse: parseScopeDescriptions,
    check: (value) => {
      const missing = REQUIRED_SCOPES.filter((scope) => !(scope in value));
      return missing.length > 0
        ? `must describe ${missing.join(', ')} (the notes API requires them)`
        : undefined;
    },
  }),
  SIGNATURE_WINDOW_SECONDS: defineEnvVar({
    description: 'Signature validity window for `created`, seconds (published as signature_window).',
    schema: Type.Integer({ minimum: 5, maximum: 600 }),
    default: '60',
  }),
  RESOURCE_TOKEN_TTL_SECONDS: defineEnvVar({
    description: 'Lifetime of the resource tokens this resource issues, seconds (at most 300).',
    schema: Type.Integer({ minimum: 10, maximum: 300 }),
    default: '300',
  }),
  R3_RETENTION_SECONDS: defineEnvVar({
    description:
      'How long an R3 document or per-call proposal stays stored and servable after the last token naming it expires, seconds (at least the 1 h auth-token lifetime cap).',
    schema: Type.Integer({ minimum: 3600, maximum: 30 * 24 * 3600 }),
    default: String(24 * 3600),
  }),
  PENDING_TTL_SECONDS: defineEnvVar({
    description:
      'Lifetime of a pending request (resource-managed interaction, held invocation), seconds; its interaction code expires with it.',
    schema: Type.Integer({ minimum: 30, maximum: 3600 }),
    default: '600',
  }),
  SESSION_TOKEN_TTL_SECONDS: defineEnvVar({
    description: 'Absolute lifetime of a resource-managed grant (its session tokens), seconds.',
    schema: Type.Integer({ minimum: 60, maximum: 30 * 24 * 3600 }),
    default: String(7 * 24 * 3600),
  }),
  SESSION_TOKEN_ROLL_SECONDS: defineEnvVar({
    description:
      'Age after which a session token is replaced by a new AAuth-Access value on a response, seconds.',
    schema: Type.Integer({ minimum: 10, maximum: 24 * 3600 }),
    default: '900',
  }),
  SESSION_TOKEN_GRACE_SECONDS: defineEnvVar({
    description: 'How long the previous session token still works after it was rolled, seconds.',
    schema: Type.Integer({ minimum: 0, maximum: 600 }),
    default: '60',
  }),
  SEED_DEMO_USERS: defineEnvVar({
    description:
      "Create the resource's own demo accounts carol and dave (documented passwords) at start. Dev mode only; refused in strict mode.",
    default: (ctx) => (ctx.devMode ? '1' : '0'),
    defaultHelp: '1 in dev mode, 0 in strict mode',
    parse: (raw) => {
      if (raw === '1' || raw === 'true') return true;
      if (raw === '0' || raw === 'false') return false;
      throw new TypeError('must be 1 or 0');
    },
    check: (value, ctx) =>
      value && !ctx.devMode
        ? 'demo users with published passwords are never seeded in strict mode'
        : undefined,
  }),
  DOWNSTREAM_RESOURCE: defineEnvVar({
    description:
      "Call chaining: the identifier of another resource running this server. When set, GET /chain/notes reads that resource's /api/notes for the caller's person, this resource acting as an agent (its own Agent Provider, /.well-known/aauth-agent.json).",
    optional: true,
    parse: (raw) => raw.trim(),
    check: (value, ctx) =>
      isServerIdentifier(value, identifierPolicyOf(ctx))
        ? undefined
        : `${JSON.stringify(value)} is not a server identifier`,
  }),
  // RETENTION_INTERVAL_SECONDS, PENDING_RETENTION_SECONDS, TOKEN_RECORD_RETENTION_SECONDS.
  ...retentionEnvSpec,
} satisfies EnvSpec;

export type ResourceServerConfig = ServerConfig<typeof resourceServerEnvSpec>;

export function resourceServerConfigOptions(
  options: Partial<CommonConfigOptions> = {},
): ParseConfigOptions<typeof resourceServerEnvSpec> {
  return {
    name: RESOURCE_SERVER_NAME,
    defaultPort: DEFAULT_PORT,
    ...options,
    extra: resourceServerEnvSpec,
  };
}

/** Validates the environment; throws `ConfigError` listing every problem. */
export function loadConfig(
  env: Readonly<Record<string, string | undefined>> = process.env,
  options: Partial<CommonConfigOptions> = {},
): ResourceServerConfig {
  return parseCommonConfig(env, resourceServerConfigOptions(options));
}
