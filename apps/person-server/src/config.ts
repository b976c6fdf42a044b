import { isServerIdentifier } from '@aauth-ref/core';
import {
  auditRetentionEnvSpec,
  type CommonConfigOptions,
  defineEnvVar,
  type EnvSpec,
  type ParseConfigOptions,
  parseCommonConfig,
  retentionEnvSpec,
  type ServerConfig,
} from '@aauth-ref/fastify';
import { Type } from '@sinclair/typebox';

/**
 * The Person Server's configuration: the common variables of the server kit plus its own. The PS
 * also plays the Agent Provider for the demo agent on the same origin, with its own key ring.
 */

export const PERSON_SERVER_NAME = 'person-server';
export const DEFAULT_PORT = 3001;

/** File under DATA_DIR holding the generated dev AP keys (the PS's are `signing-keys.json`). */
export const DEV_AGENT_KEYS_FILE = 'agent-signing-keys.json';

export const personServerEnvSpec = {
  AGENT_SIGNING_KEYS: defineEnvVar({
    description:
      "The Agent Provider role's signing keys (agent tokens), separate from SIGNING_KEYS: a JWKS JSON string or a path to one, with private members. Generated and kept in DATA_DIR/agent-signing-keys.json in dev mode when absent.",
    default: (ctx) => (ctx.devMode ? '' : undefined),
    defaultHelp: 'required in strict mode; generated on first start in dev mode',
    secret: true,
    missing:
      'required in strict mode: a JWKS (or a path to one) with private members, not the SIGNING_KEYS one',
    parse: (raw): string | undefined => (raw === '' ? undefined : raw),
  }),
  PENDING_TTL_SECONDS: defineEnvVar({
    description: 'Lifetime of a deferred request (pending URL and its interaction code), seconds.',
    schema: Type.Integer({ minimum: 30, maximum: 86_400 }),
    default: '600',
  }),
  RESOURCE_TOKEN_MAX_LIFETIME_SECONDS: defineEnvVar({
    description:
      'The longest resource-token lifetime (exp - iat) this PS accepts, seconds; longer ones are invalid_resource_token (§Resource Token Structure: SHOULD NOT exceed 5 minutes). Person-token records are retained at least this long past their exp.',
    schema: Type.Integer({ minimum: 30, maximum: 3600 }),
    default: '300',
  }),
  AGENT_TOKEN_TTL_SECONDS: defineEnvVar({
    description: 'Lifetime of the agent tokens this Agent Provider issues, seconds (at most 24 h).',
    schema: Type.Integer({ minimum: 60, maximum: 86_400 }),
    default: '3600',
  }),
  REVOCATION_TRUSTED_ISSUERS: defineEnvVar({
    description:
      'Server identifiers (comma-separated) trusted to revoke tokens they did not issue at POST /revoke (§Token Revocation: "or from a trusted PS"). The issuer of a token may always revoke it.',
    default: '',
    parse: (raw, ctx): readonly string[] => {
      const list = raw
        .split(',')
        .map((entry) => entry.trim())
        .filter((entry) => entry !== '');
      const bad = list.filter((entry) => !isServerIdentifier(entry, { devMode: ctx.devMode }));
      if (bad.length > 0) throw new TypeError(`not a server identifier: ${bad.join(', ')}`);
      return Object.freeze(list);
    },
  }),
  ACCEPT_CLARIFICATION_WITHOUT_ACTION: defineEnvVar({
    description:
      'Compatibility switch: accept a clarification answer POSTed to a pending URL without the `action` member (§Agent Response to Clarification requires it; the TypeScript agent SDK omits it). Off by default.',
    default: '0',
    parse: (raw) => {
      if (raw === '1' || raw === 'true') return true;
      if (raw === '0' || raw === 'false') return false;
      throw new TypeError('must be 1 or 0');
    },
  }),
  SEED_DEMO_PERSONS: defineEnvVar({
    description:
      'Create the demo persons alice and bob (documented passwords) at start. Dev mode only; refused in strict mode.',
    default: (ctx) => (ctx.devMode ? '1' : '0'),
    defaultHelp: '1 in dev mode, 0 in strict mode',
    parse: (raw) => {
      if (raw === '1' || raw === 'true') return true;
      if (raw === '0' || raw === 'false') return false;
      throw new TypeError('must be 1 or 0');
    },
    check: (value, ctx) =>
      value && !ctx.devMode
        ? 'demo persons with published passwords are never seeded in strict mode'
        : undefined,
  }),
  // RETENTION_INTERVAL_SECONDS, PENDING_RETENTION_SECONDS, TOKEN_RECORD_RETENTION_SECONDS.
  ...retentionEnvSpec,
  // AUDIT_RETENTION_SECONDS.
  ...auditRetentionEnvSpec,
} satisfies EnvSpec;

export type PersonServerConfig = ServerConfig<typeof personServerEnvSpec>;

export function personServerConfigOptions(
  options: Partial<CommonConfigOptions> = {},
): ParseConfigOptions<typeof personServerEnvSpec> {
  return {
    name: PERSON_SERVER_NAME,
    defaultPort: DEFAULT_PORT,
    ...options,
    extra: personServerEnvSpec,
  };
}

/** Validates the environment; throws `ConfigError` listing every problem. */
export function loadConfig(
  env: Readonly<Record<string, string | undefined>> = process.env,
  options: Partial<CommonConfigOptions> = {},
): PersonServerConfig {
  return parseCommonConfig(env, personServerConfigOptions(options));
}
