import { isIP } from 'node:net';
import { isAbsolute, resolve } from 'node:path';
import {
  createEgressPolicy,
  DEV,
  type EgressAllowList,
  type EgressPolicy,
  type IdentifierPolicy,
  isServerIdentifier,
  parseEgressAllowList,
  STRICT,
} from '@aauth-ref/core';
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

/**
 * Environment configuration shared by every server (ARCHITECTURE.md, *Configuration and modes*).
 *
 * Each variable is declared once — TypeBox schema (the repository's schema library), meaning and
 * default — and that one declaration drives parsing, the single start-up error listing every problem,
 * and the `--help` environment reference. Apps add their own variables with `defineEnvVar` and pass
 * them as `extra`.
 */

/** A start-up configuration failure: every problem found, one per line, never a stack. */
export class ConfigError extends Error {
  readonly problems: readonly string[];
  constructor(subject: string, problems: readonly string[], options?: { cause?: unknown }) {
    super(`${subject}:\n${problems.map((p) => `  - ${p}`).join('\n')}`, options);
    this.name = 'ConfigError';
    this.problems = Object.freeze([...problems]);
  }
}

export function isConfigError(value: unknown): value is ConfigError {
  return value instanceof ConfigError;
}

/** What a default or a check may depend on: the mode and the variables declared before it. */
export interface EnvContext {
  readonly devMode: boolean;
  readonly name: string;
  readonly cwd: string;
  /** Values already parsed, in declaration order (common variables come first). */
  readonly values: Readonly<Record<string, unknown>>;
}

export interface EnvVar<T> {
  readonly description: string;
  /** Shown by `--help` when the default is computed (`http://localhost:<PORT> in dev mode`). */
  readonly defaultHelp?: string;
  readonly default?: string | ((ctx: EnvContext) => string | undefined);
  /** When false (the default) an absent variable with no default is a problem. */
  readonly optional?: boolean;
  /** The value holds a secret: `--help` never prints a default for it. */
  readonly secret?: boolean;
  /** The problem reported when the variable is absent and has no default (`required` otherwise). */
  readonly missing?: string;
  /** Converts the raw string; throws `TypeError` (its message becomes the problem) or returns the value. */
  readonly parse: (raw: string, ctx: EnvContext) => T;
  /** A further rule on the parsed value; returns the problem, or `undefined` when fine. */
  // Method syntax: a spec holds variables of different types, so `check` must be bivariant.
  check?(value: T, ctx: EnvContext): string | undefined;
}

export type EnvSpec = Readonly<Record<string, EnvVar<unknown>>>;

export type EnvValues<S extends EnvSpec> = {
  readonly [K in keyof S]: S[K] extends EnvVar<infer T> ? T : never;
};

interface EnvVarBase<T> {
  readonly description: string;
  readonly defaultHelp?: string;
  readonly default?: string | ((ctx: EnvContext) => string | undefined);
  readonly secret?: boolean;
  readonly missing?: string;
  readonly check?: (value: T, ctx: EnvContext) => string | undefined;
}

function describeSchemaProblem(schema: TSchema, value: unknown): string {
  const literals = (schema.anyOf as TSchema[] | undefined)?.map((s) => s.const);
  if (literals?.every((l) => typeof l === 'string')) return `must be one of ${literals.join(', ')}`;
  const first = Value.Errors(schema, value).First();
  return first ? first.message.replace(/^Expected/, 'expected') : 'is invalid';
}

function schemaParser<S extends TSchema>(schema: S): (raw: string) => Static<S> {
  return (raw) => {
    const converted = Value.Convert(schema, raw);
    if (!Value.Check(schema, converted)) throw new TypeError(describeSchemaProblem(schema, converted));
    return converted as Static<S>;
  };
}

/**
 * Declares an environment variable. With `schema`, the raw string is converted by TypeBox (numbers,
 * integers, booleans, literal unions); with `parse`, by the given function.
 */
export function defineEnvVar<S extends TSchema>(
  definition: EnvVarBase<Static<S>> & { readonly schema: S; readonly optional?: false },
): EnvVar<Static<S>>;
export function defineEnvVar<S extends TSchema>(
  definition: EnvVarBase<Static<S>> & { readonly schema: S; readonly optional: true },
): EnvVar<Static<S> | undefined>;
export function defineEnvVar<T>(
  definition: EnvVarBase<T> & {
    readonly parse: (raw: string, ctx: EnvContext) => T;
    readonly optional?: false;
  },
): EnvVar<T>;
export function defineEnvVar<T>(
  definition: EnvVarBase<T> & {
    readonly parse: (raw: string, ctx: EnvContext) => T;
    readonly optional: true;
  },
): EnvVar<T | undefined>;
export function defineEnvVar(
  definition: EnvVarBase<unknown> & {
    readonly schema?: TSchema;
    readonly parse?: (raw: string, ctx: EnvContext) => unknown;
    readonly optional?: boolean;
  },
): EnvVar<unknown> {
  const { schema, parse, ...rest } = definition;
  const parser = parse ?? (schema ? schemaParser(schema) : (raw: string) => raw);
  return Object.freeze({ ...rest, parse: parser }) as EnvVar<unknown>;
}

/** Reads `spec` from `env` into `values`, appending each problem as `NAME: problem`. */
export function readEnv(
  spec: EnvSpec,
  env: Readonly<Record<string, string | undefined>>,
  ctx: EnvContext,
  values: Record<string, unknown>,
  problems: string[],
): void {
  for (const [name, variable] of Object.entries(spec)) {
    const given = env[name];
    const raw =
      given !== undefined && given !== ''
        ? given
        : typeof variable.default === 'function'
          ? variable.default(ctx)
          : variable.default;
    if (raw === undefined) {
      if (!variable.optional) problems.push(`${name}: ${variable.missing ?? 'required'}`);
      values[name] = undefined;
      continue;
    }
    try {
      const value = variable.parse(raw, ctx);
      const problem = variable.check?.(value, ctx);
      if (problem) problems.push(`${name}: ${problem}`);
      values[name] = value;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      // Parsers such as core's parseEgressAllowList already name the variable.
      problems.push(message.startsWith(`${name}:`) ? message : `${name}: ${message}`);
      values[name] = undefined;
    }
  }
}

// --- The common variables -------------------------------------------------------------------------

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Fastify's `trustProxy`: off, trust everything, a hop count, or a list of addresses/CIDRs. */
export type TrustProxy = boolean | number | readonly string[];

/** `TRUST_PROXY` as Fastify's `trustProxy` option; its types omit the hop count proxy-addr accepts. */
export function fastifyTrustProxy(
  value: TrustProxy,
): boolean | string[] | ((address: string, hop: number) => boolean) {
  if (typeof value === 'number') return (_address, hop) => hop < value;
  return typeof value === 'boolean' ? value : [...value];
}

function parseTrustProxy(raw: string): TrustProxy {
  const value = raw.trim().toLowerCase();
  if (value === 'false' || value === '0') return false;
  if (value === 'true') return true;
  if (/^\d{1,2}$/.test(value)) return Number(value);
  const entries = value.split(/[\s,]+/).filter((e) => e.length > 0);
  for (const entry of entries) {
    const [address, prefix, extra] = entry.split('/');
    const family = isIP(address ?? '');
    const max = family === 4 ? 32 : 128;
    const validPrefix = prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= max);
    if (family === 0 || !validPrefix || extra !== undefined) {
      throw new TypeError(
        `${JSON.stringify(entry)} is not an IP address or CIDR (use true, false, a hop count, or addresses)`,
      );
    }
  }
  return Object.freeze(entries);
}

function parseDatabaseUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new TypeError('is not a URL (expected postgresql://user:password@host:5432/database)');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new TypeError(`scheme ${url.protocol} is not postgres: or postgresql:`);
  }
  return raw;
}

function parseDevFlag(raw: string): boolean {
  if (raw === '1' || raw === 'true') return true;
  if (raw === '0' || raw === 'false') return false;
  throw new TypeError('must be 1 (development mode) or 0 (strict mode)');
}

export interface CommonConfigOptions {
  /** The server's default port (person-server 3001, auth-server 3002, resource-server 3003). */
  readonly defaultPort: number;
  /** The server's short name; the default data folder is `.data/<name>`. */
  readonly name: string;
  /** Base for relative paths (`DATA_DIR`, a `SIGNING_KEYS` path); defaults to `process.cwd()`. */
  readonly cwd?: string;
}

/** The common variables, in the order they are read (later defaults may use earlier values). */
export function commonEnvSpec(options: CommonConfigOptions) {
  return {
    AAUTH_DEV: defineEnvVar({
      description:
        'Set to 1 for development mode: http://localhost and http://127.0.0.1 identifiers, loopback egress, non-Secure cookies. Never in production.',
      default: '0',
      defaultHelp: '0 (strict mode)',
      parse: parseDevFlag,
    }),
    PORT: defineEnvVar({
      description: 'TCP port to listen on.',
      schema: Type.Integer({ minimum: 0, maximum: 65535 }),
      default: String(options.defaultPort),
    }),
    HOST: defineEnvVar({
      description: 'Address to listen on.',
      default: (ctx) => (ctx.devMode ? '127.0.0.1' : '0.0.0.0'),
      defaultHelp: '0.0.0.0 in strict mode, 127.0.0.1 in dev mode',
      parse: (raw) => raw,
    }),
    ISSUER: defineEnvVar({
      description:
        "This server's public identifier: https://host, no port, no path (§Server Identifiers). Dev mode also accepts http://localhost:PORT and http://127.0.0.1:PORT.",
      default: (ctx) => (ctx.devMode ? `http://localhost:${String(ctx.values.PORT)}` : undefined),
      defaultHelp: 'required in strict mode; http://localhost:<PORT> in dev mode',
      missing: 'required in strict mode: the public https://host identifier of this server',
      parse: (raw) => raw,
      check: (value, ctx) => {
        if (isServerIdentifier(value, ctx.devMode ? DEV : STRICT)) return undefined;
        if (!ctx.devMode && isServerIdentifier(value, DEV)) {
          return `${value} is a development identifier; strict mode needs https://host with no port (set AAUTH_DEV=1 only for local development)`;
        }
        return `${JSON.stringify(value)} is not a server identifier (https://host, lowercase, no port, path or trailing slash)`;
      },
    }),
    DATABASE_URL: defineEnvVar({
      description:
        'PostgreSQL connection URL. When absent the server uses an embedded PGlite database under DATA_DIR.',
      optional: true,
      secret: true,
      parse: parseDatabaseUrl,
    }),
    DATA_DIR: defineEnvVar({
      description: 'Folder for local state: the embedded database and, in dev mode, generated signing keys.',
      default: `.data/${options.name}`,
      defaultHelp: `.data/${options.name} under the working directory`,
      parse: (raw, ctx) => (isAbsolute(raw) ? raw : resolve(ctx.cwd, raw)),
    }),
    SIGNING_KEYS: defineEnvVar({
      description:
        'The signing keys: a JWKS JSON string, or a path to a JWKS file, with private members; each key may carry "status": "active" | "next" | "retired". Generated and kept in DATA_DIR/signing-keys.json in dev mode when absent.',
      default: (ctx) => (ctx.devMode ? '' : undefined),
      defaultHelp: 'required in strict mode; generated on first start in dev mode',
      secret: true,
      missing:
        'required in strict mode: a JWKS (or a path to one) with private members — generate one with generateSigningKeysJwks',
      // The key ring reads and checks it; empty means "generate or reuse DATA_DIR/signing-keys.json" (dev mode only).
      parse: (raw): string | undefined => (raw === '' ? undefined : raw),
    }),
    LOG_LEVEL: defineEnvVar({
      description: `pino log level: ${LOG_LEVELS.join(', ')}.`,
      schema: Type.Union(LOG_LEVELS.map((l) => Type.Literal(l))),
      default: 'info',
    }),
    AAUTH_EGRESS_ALLOW: defineEnvVar({
      description:
        'Extra egress admissions: host names and IP addresses/CIDRs, comma or space separated, that outbound fetches may reach although not public.',
      default: '',
      defaultHelp: 'none',
      parse: (raw): EgressAllowList => parseEgressAllowList(raw),
    }),
    TRUST_PROXY: defineEnvVar({
      description:
        "Fastify trustProxy: false, true, a hop count, or proxy addresses/CIDRs. Only affects the client address used for rate limits and logs: '@authority' always comes from ISSUER.",
      default: 'false',
      parse: parseTrustProxy,
    }),
  } satisfies EnvSpec;
}

export type CommonEnvSpec = ReturnType<typeof commonEnvSpec>;

/** The derived policies every server needs, next to the raw variables. */
export interface ModeSettings {
  readonly identifierPolicy: IdentifierPolicy;
  readonly egressPolicy: EgressPolicy;
  readonly name: string;
}

export type CommonConfig = EnvValues<CommonEnvSpec> & ModeSettings;
export type ServerConfig<E extends EnvSpec = Record<never, never>> = CommonConfig & EnvValues<E>;

export interface ParseConfigOptions<E extends EnvSpec> extends CommonConfigOptions {
  /** The app's own variables, read after the common ones. */
  readonly extra?: E;
}

/**
 * Validates the environment into a frozen typed config. Throws one `ConfigError` naming every
 * problem (`Invalid configuration for person-server:` then one line per variable).
 */
export function parseCommonConfig<E extends EnvSpec = Record<never, never>>(
  env: Readonly<Record<string, string | undefined>>,
  options: ParseConfigOptions<E>,
): ServerConfig<E> {
  const cwd = options.cwd ?? process.cwd();
  const problems: string[] = [];
  const values: Record<string, unknown> = {};
  const common = commonEnvSpec(options);
  // The mode decides other defaults, so it is read first on its own.
  readEnv(
    { AAUTH_DEV: common.AAUTH_DEV },
    env,
    { devMode: false, name: options.name, cwd, values },
    values,
    problems,
  );
  const devMode = values.AAUTH_DEV === true;
  const ctx: EnvContext = { devMode, name: options.name, cwd, values };
  const { AAUTH_DEV: _mode, ...rest } = common;
  readEnv(rest, env, ctx, values, problems);
  if (options.extra) {
    for (const name of Object.keys(options.extra)) {
      if (name in common) problems.push(`${name}: declared by the app but it is a common variable`);
    }
    readEnv(options.extra, env, ctx, values, problems);
  }
  if (problems.length > 0) throw new ConfigError(`Invalid configuration for ${options.name}`, problems);
  const allow = values.AAUTH_EGRESS_ALLOW as EgressAllowList;
  return Object.freeze({
    ...values,
    name: options.name,
    identifierPolicy: devMode ? DEV : STRICT,
    egressPolicy: createEgressPolicy({ devMode, allow }),
  }) as ServerConfig<E>;
}

/** True when the command line asks for the environment reference. */
export function isHelpRequested(argv: readonly string[] = process.argv.slice(2)): boolean {
  return argv.includes('--help') || argv.includes('-h');
}

/** The `--help` text: every variable, its default and meaning, common ones first. */
export function formatEnvReference<E extends EnvSpec = Record<never, never>>(
  options: ParseConfigOptions<E>,
): string {
  const spec: EnvSpec = { ...commonEnvSpec(options), ...options.extra };
  const lines = [
    `${options.name} — configuration is read from the environment.`,
    'Strict mode (the default) follows the AAuth spec; AAUTH_DEV=1 relaxes it for local development.',
    '',
  ];
  for (const [name, variable] of Object.entries(spec)) {
    const fallback =
      variable.defaultHelp ??
      (typeof variable.default === 'string' && !variable.secret
        ? variable.default === ''
          ? '(empty)'
          : variable.default
        : variable.optional
          ? 'unset'
          : 'required');
    lines.push(`  ${name}`, `      ${variable.description}`, `      default: ${fallback}`);
  }
  return `${lines.join('\n')}\n`;
}
