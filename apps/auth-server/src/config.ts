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

/** The auth server's configuration: the server kit's common variables plus its own. */

export const AUTH_SERVER_NAME = 'auth-server';
export const DEFAULT_PORT = 3002;

export const authServerEnvSpec = {
  POLICY_FILE: defineEnvVar({
    description:
      "A policy document (JSON, README *Auth server*) loaded into the database at start: its trusted Person Servers replace the stored list, and each resource it names replaces that resource's stored policy. Absent: the stored policy is used as it is.",
    default: '',
    defaultHelp: 'none',
    parse: (raw): string | undefined => (raw.trim() === '' ? undefined : raw.trim()),
  }),
  PENDING_TTL_SECONDS: defineEnvVar({
    description: 'Lifetime of a deferred token request (its pending URL), seconds.',
    schema: Type.Integer({ minimum: 30, maximum: 86_400 }),
    default: '600',
  }),
  RESOURCE_TOKEN_MAX_LIFETIME_SECONDS: defineEnvVar({
    description:
      'The longest resource-token lifetime (exp - iat) this AS accepts, seconds; longer ones are invalid_resource_token (§Resource Token Structure: SHOULD NOT exceed 5 minutes).',
    schema: Type.Integer({ minimum: 30, maximum: 3600 }),
    default: '300',
  }),
  AUTH_TOKEN_TTL_SECONDS: defineEnvVar({
    description:
      "Lifetime of the auth tokens this AS issues, seconds (§Auth Token Structure: at most 1 h; never past the agent token's exp).",
    schema: Type.Integer({ minimum: 60, maximum: 3600 }),
    default: '3600',
  }),
  SEED_DEMO_USERS: defineEnvVar({
    description:
      'Create the demo accounts carol (a person) and admin (an administrator) with documented passwords at start. Dev mode only; refused in strict mode.',
    default: (ctx) => (ctx.devMode ? '1' : '0'),
    defaultHelp: '1 in dev mode, 0 in strict mode',
    parse: (raw) => {
      if (raw === '1' || raw === 'true') return true;
      if (raw === '0' || raw === 'false') return false;
      throw new TypeError('must be 1 or 0');
    },
    check: (value, ctx) =>
      value && !ctx.devMode
        ? 'demo accounts with published passwords are never seeded in strict mode'
        : undefined,
  }),
  // RETENTION_INTERVAL_SECONDS, PENDING_RETENTION_SECONDS, TOKEN_RECORD_RETENTION_SECONDS.
  ...retentionEnvSpec,
  // AUDIT_RETENTION_SECONDS.
  ...auditRetentionEnvSpec,
} satisfies EnvSpec;

export type AuthServerConfig = ServerConfig<typeof authServerEnvSpec>;

export function authServerConfigOptions(
  options: Partial<CommonConfigOptions> = {},
): ParseConfigOptions<typeof authServerEnvSpec> {
  return { name: AUTH_SERVER_NAME, defaultPort: DEFAULT_PORT, ...options, extra: authServerEnvSpec };
}

/** Validates the environment; throws `ConfigError` listing every problem. */
export function loadConfig(
  env: Readonly<Record<string, string | undefined>> = process.env,
  options: Partial<CommonConfigOptions> = {},
): AuthServerConfig {
  return parseCommonConfig(env, authServerConfigOptions(options));
}
