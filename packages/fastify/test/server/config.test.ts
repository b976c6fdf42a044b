import { DEV, isHostAllowListed, STRICT } from '@aauth-ref/core';
import { Type } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  defineEnvVar,
  formatEnvReference,
  isHelpRequested,
  parseCommonConfig,
} from '../../src/index.js';

const OPTIONS = { defaultPort: 3001, name: 'person-server', cwd: '/srv/app' } as const;
const STRICT_ENV = { ISSUER: 'https://ps.example', SIGNING_KEYS: '/etc/aauth/keys.json' };

function problemsOf(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('parseCommonConfig', () => {
  it('applies strict-mode defaults', () => {
    const config = parseCommonConfig(STRICT_ENV, OPTIONS);
    expect(config).toMatchObject({
      ISSUER: 'https://ps.example',
      PORT: 3001,
      HOST: '0.0.0.0',
      DATABASE_URL: undefined,
      DATA_DIR: '/srv/app/.data/person-server',
      SIGNING_KEYS: '/etc/aauth/keys.json',
      LOG_LEVEL: 'info',
      AAUTH_DEV: false,
      TRUST_PROXY: false,
      name: 'person-server',
    });
    expect(config.identifierPolicy).toBe(STRICT);
    expect(config.egressPolicy.devMode).toBe(false);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('applies dev-mode defaults: loopback host, http issuer on the port, keys generated', () => {
    const config = parseCommonConfig({ AAUTH_DEV: '1', PORT: '4001' }, OPTIONS);
    expect(config.ISSUER).toBe('http://localhost:4001');
    expect(config.HOST).toBe('127.0.0.1');
    expect(config.SIGNING_KEYS).toBeUndefined();
    expect(config.identifierPolicy).toBe(DEV);
    expect(config.egressPolicy.devMode).toBe(true);
  });

  it('reads every variable', () => {
    const config = parseCommonConfig(
      {
        ...STRICT_ENV,
        PORT: '8443',
        HOST: '::',
        DATABASE_URL: 'postgresql://u:p@db:5432/ps',
        DATA_DIR: '/var/lib/ps',
        LOG_LEVEL: 'debug',
        AAUTH_EGRESS_ALLOW: 'as.internal, 10.0.0.0/8',
        TRUST_PROXY: '10.0.0.1,10.1.0.0/16',
      },
      OPTIONS,
    );
    expect(config.PORT).toBe(8443);
    expect(config.DATABASE_URL).toBe('postgresql://u:p@db:5432/ps');
    expect(config.DATA_DIR).toBe('/var/lib/ps');
    expect(config.LOG_LEVEL).toBe('debug');
    expect(isHostAllowListed(config.egressPolicy, 'as.internal')).toBe(true);
    expect(config.AAUTH_EGRESS_ALLOW.entries).toEqual(['as.internal', '10.0.0.0/8']);
    expect(config.TRUST_PROXY).toEqual(['10.0.0.1', '10.1.0.0/16']);
    expect(parseCommonConfig({ ...STRICT_ENV, TRUST_PROXY: '2' }, OPTIONS).TRUST_PROXY).toBe(2);
    expect(parseCommonConfig({ ...STRICT_ENV, TRUST_PROXY: 'true' }, OPTIONS).TRUST_PROXY).toBe(true);
  });

  it('lists every problem in one error, without a stack in the message', () => {
    const env = {
      PORT: '70000',
      DATABASE_URL: 'mysql://x',
      LOG_LEVEL: 'loud',
      AAUTH_EGRESS_ALLOW: 'not a host!',
      TRUST_PROXY: 'everyone',
      AAUTH_DEV: '0',
    };
    let error: ConfigError | undefined;
    try {
      parseCommonConfig(env, OPTIONS);
    } catch (err) {
      error = err as ConfigError;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const names = error!.problems.map((p) => p.split(':')[0]);
    expect(names).toEqual([
      'PORT',
      'ISSUER',
      'DATABASE_URL',
      'SIGNING_KEYS',
      'LOG_LEVEL',
      'AAUTH_EGRESS_ALLOW',
      'TRUST_PROXY',
    ]);
    expect(error!.message.startsWith('Invalid configuration for person-server:\n  - PORT: ')).toBe(true);
    expect(error!.message).not.toMatch(/\n\s+at /);
    expect(error!.problems).toContain(
      'LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent',
    );
  });

  it('strict mode refuses a development issuer with a clear message (§Server Identifiers)', () => {
    const problems = problemsOf(() =>
      parseCommonConfig({ ...STRICT_ENV, ISSUER: 'http://localhost:3001' }, OPTIONS),
    );
    expect(problems).toEqual([
      'ISSUER: http://localhost:3001 is a development identifier; strict mode needs https://host with no port (set AAUTH_DEV=1 only for local development)',
    ]);
  });

  it.each([
    'https://ps.example/',
    'https://ps.example:8443',
    'https://PS.example',
    'https://ps.example/path',
    'ps.example',
  ])('refuses the issuer %s', (issuer) => {
    const problems = problemsOf(() => parseCommonConfig({ ...STRICT_ENV, ISSUER: issuer }, OPTIONS));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^ISSUER: /);
  });

  it('dev mode still refuses a non-loopback http issuer', () => {
    const problems = problemsOf(() =>
      parseCommonConfig({ AAUTH_DEV: '1', ISSUER: 'http://ps.example' }, OPTIONS),
    );
    expect(problems[0]).toMatch(/^ISSUER: "http:\/\/ps.example" is not a server identifier/);
  });

  it('requires ISSUER and SIGNING_KEYS in strict mode, naming what to do', () => {
    expect(problemsOf(() => parseCommonConfig({}, OPTIONS))).toEqual([
      'ISSUER: required in strict mode: the public https://host identifier of this server',
      'SIGNING_KEYS: required in strict mode: a JWKS (or a path to one) with private members — generate one with generateSigningKeysJwks',
    ]);
  });

  it('refuses an AAUTH_DEV value other than 1 or 0', () => {
    expect(problemsOf(() => parseCommonConfig({ ...STRICT_ENV, AAUTH_DEV: 'yes' }, OPTIONS))).toEqual([
      'AAUTH_DEV: must be 1 (development mode) or 0 (strict mode)',
    ]);
  });

  it('lets an app add typed variables, parsed and reported with the common ones', () => {
    const extra = {
      SESSION_TTL_SECONDS: defineEnvVar({
        description: 'Session lifetime.',
        schema: Type.Integer({ minimum: 60 }),
        default: '28800',
      }),
      ADMIN_EMAIL: defineEnvVar({ description: 'Operator contact.', optional: true, parse: (raw) => raw }),
      INVITE_CODE: defineEnvVar({
        description: 'Code people need to register.',
        secret: true,
        parse: (raw) => raw,
        check: (value) => (value.length < 8 ? 'must be at least 8 characters' : undefined),
      }),
    };
    const config = parseCommonConfig({ ...STRICT_ENV, INVITE_CODE: 'abcdefgh' }, { ...OPTIONS, extra });
    expect(config.SESSION_TTL_SECONDS).toBe(28800);
    expect(config.ADMIN_EMAIL).toBeUndefined();
    expect(config.INVITE_CODE).toBe('abcdefgh');
    const problems = problemsOf(() =>
      parseCommonConfig({ SESSION_TTL_SECONDS: '5', INVITE_CODE: 'short' }, { ...OPTIONS, extra }),
    );
    expect(problems).toEqual([
      'ISSUER: required in strict mode: the public https://host identifier of this server',
      'SIGNING_KEYS: required in strict mode: a JWKS (or a path to one) with private members — generate one with generateSigningKeysJwks',
      'SESSION_TTL_SECONDS: expected integer to be greater or equal to 60',
      'INVITE_CODE: must be at least 8 characters',
    ]);
  });

  it('prints an environment reference with every variable, default and meaning', () => {
    const extra = {
      INVITE_CODE: defineEnvVar({
        description: 'Registration code.',
        secret: true,
        default: 's3cret',
        parse: (r) => r,
      }),
    };
    const text = formatEnvReference({ ...OPTIONS, extra });
    for (const name of [
      'AAUTH_DEV',
      'PORT',
      'HOST',
      'ISSUER',
      'DATABASE_URL',
      'DATA_DIR',
      'SIGNING_KEYS',
      'LOG_LEVEL',
      'AAUTH_EGRESS_ALLOW',
      'TRUST_PROXY',
      'INVITE_CODE',
    ]) {
      expect(text).toContain(`\n  ${name}\n`);
    }
    expect(text).toContain('default: 3001');
    expect(text).toContain('default: required in strict mode; http://localhost:<PORT> in dev mode');
    expect(text).not.toContain('s3cret');
    expect(isHelpRequested(['--help'])).toBe(true);
    expect(isHelpRequested(['serve'])).toBe(false);
  });
});
