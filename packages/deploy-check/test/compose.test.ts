import { describe, expect, it } from 'vitest';
import { parseCaddySites } from '../src/caddyfile.js';
import { defaultPort, requiredVariables } from '../src/env-reference.js';
import { isRecord, readRepoFile, readYaml } from '../src/files.js';
import { describeIssuerProblem } from '../src/identifiers.js';
import { COMPOSE_SERVERS, SERVER_NAMES } from '../src/servers.js';
import { documentedReferences, expectFrontRootTrusted, toEnvRecord } from './support.js';

/** docker-compose.yml: the servers, their jobs and the TLS front agree with the servers' own reference. */

const compose = readYaml('docker-compose.yml');
if (!isRecord(compose) || !isRecord(compose.services)) throw new Error('docker-compose.yml has no services');
const services = compose.services as Record<string, Record<string, unknown>>;
const references = documentedReferences();
const caddySites = parseCaddySites(readRepoFile('infra/compose/Caddyfile'));
const publicHosts = COMPOSE_SERVERS.map(
  ({ service }) => new URL(toEnvRecord(services[service]?.environment).ISSUER ?? 'https://invalid').hostname,
);

function mountTargets(
  service: Record<string, unknown>,
): { source: string; target: string; readOnly: boolean }[] {
  return ((service.volumes as unknown[] | undefined) ?? []).map((entry) => {
    const [source = '', target = '', mode] = String(entry).split(':');
    return { source, target, readOnly: mode === 'ro' };
  });
}

function envOf(server: string): Record<string, string> {
  return toEnvRecord(services[server]?.environment);
}

describe('docker-compose.yml', () => {
  it('has no top-level name (Compose v1 1.29 rejects it) and declares every service it depends on', () => {
    expect(compose).not.toHaveProperty('name');
    for (const [name, service] of Object.entries(services)) {
      for (const dependency of Object.keys((service.depends_on as object | undefined) ?? {})) {
        expect(services, `${name} depends on ${dependency}`).toHaveProperty(dependency);
      }
    }
  });

  it('publishes ports on 127.0.0.1 only', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const port of (service.ports as unknown[] | undefined) ?? []) {
        expect(String(port), `${name} publishes ${String(port)}`).toMatch(/^127\.0\.0\.1:/);
      }
    }
  });

  it('never builds keys into an image: the build context excludes key files', () => {
    const ignore = readRepoFile('.dockerignore');
    expect(ignore).toMatch(/^\*\*\/signing-keys\*\.json$/m);
    expect(ignore).toMatch(/^\*\*\/\.data$/m);
    expect(readRepoFile('infra/docker/Dockerfile')).not.toMatch(/SIGNING_KEYS\s*=/);
  });

  it('gives every server container its own issuer, database and key volume', () => {
    const distinct = (values: unknown[]) => new Set(values).size === values.length;
    const envs = COMPOSE_SERVERS.map(({ service }) => envOf(service));
    expect(distinct(envs.map((env) => env.ISSUER))).toBe(true);
    expect(distinct(envs.map((env) => env.DATABASE_URL))).toBe(true);
    const keyVolumes = COMPOSE_SERVERS.map(
      ({ service }) => mountTargets(services[service] ?? {}).find((m) => m.source.endsWith('-keys'))?.source,
    );
    expect(distinct(keyVolumes)).toBe(true);
  });

  describe.each(COMPOSE_SERVERS)('$service', ({ service: server, app, database }) => {
    const service = services[server] ?? {};
    const env = envOf(server);
    const reference = references.get(app);
    if (!reference) throw new Error(`no reference for ${app}`);
    const port = Number(env.PORT ?? defaultPort(reference));

    it('sets every variable strict mode requires, a PostgreSQL URL, and no dev mode', () => {
      for (const name of requiredVariables(reference)) {
        expect(env[name], `${server}: ${name}`).toBeTruthy();
      }
      expect(env.DATABASE_URL).toMatch(new RegExp(`^postgresql://[^@]+@postgres:5432/${database}$`));
      expect(['0', undefined]).toContain(env.AAUTH_DEV);
      for (const name of Object.keys(env)) {
        if (name === 'NODE_EXTRA_CA_CERTS') continue;
        expect(reference.variables.has(name), `${server} does not read ${name}`).toBe(true);
      }
    });

    it('runs on its default port, which the image is built for', () => {
      expect(port).toBe(defaultPort(reference));
      const build = service.build as Record<string, unknown>;
      expect(build.dockerfile).toBe('infra/docker/Dockerfile');
      expect(build.args).toMatchObject({ APP: app, PORT: String(port) });
      // The server image is the Dockerfile's default (last) stage; only the agent names a target.
      expect(build.target).toBeUndefined();
      expect(service.image).toBe(`aauth-ref/${app}:dev`);
    });

    it('has a conformant https issuer without a port (§Server Identifiers)', () => {
      expect(describeIssuerProblem(env.ISSUER)).toBeUndefined();
      expect(new URL(env.ISSUER ?? '').hostname).toMatch(/\.localhost$/);
    });

    it('is reached through the TLS front at its issuer host, on its port', () => {
      const host = new URL(env.ISSUER ?? '').hostname;
      const site = caddySites.find((s) => s.host === host);
      expect(site, `Caddyfile site ${host}`).toBeDefined();
      expect(site?.tlsInternal).toBe(true);
      expect(site?.upstreams).toEqual([`${server}:${port}`]);
      const caddy = services.caddy as Record<string, unknown>;
      const aliases = ((caddy.networks as Record<string, { aliases?: string[] }>).aauth?.aliases ??
        []) as string[];
      expect(aliases).toContain(host);
      expect(service.ports).toBeUndefined();
      expect(env.TRUST_PROXY).toBe('1');
    });

    it("admits the stack names for egress and trusts the front's root, never mounting the CA's keys", () => {
      const allowed = (env.AAUTH_EGRESS_ALLOW ?? '').split(/[\s,]+/);
      for (const host of publicHosts) expect(allowed).toContain(host);
      expectFrontRootTrusted(services, service, env);
    });

    it('reads its signing keys from a read-only volume the keys job fills', () => {
      const keysMount = mountTargets(service).find((m) => m.source.endsWith('-keys'));
      expect(keysMount?.readOnly).toBe(true);
      const keyVars = requiredVariables(reference).filter((name) => name.endsWith('SIGNING_KEYS'));
      expect(keyVars.length).toBeGreaterThan(0);
      for (const name of keyVars) {
        expect(env[name]?.startsWith(`${keysMount?.target}/`), name).toBe(true);
        const file = env[name]?.slice(`${keysMount?.target}/`.length);
        const jobMount = mountTargets(services.keys ?? {}).find((m) => m.source === keysMount?.source);
        expect(jobMount, `keys job mounts ${keysMount?.source}`).toBeDefined();
        expect(String(((services.keys?.command ?? []) as string[])[0])).toContain(
          `${jobMount?.target}/${file}`,
        );
      }
    });

    it("waits for its migration job, the keys and the front's root, and is checked on /readyz", () => {
      const dependsOn = service.depends_on as Record<string, { condition: string }>;
      expect(dependsOn[`migrate-${server}`]?.condition).toBe('service_completed_successfully');
      expect(dependsOn.keys?.condition).toBe('service_completed_successfully');
      expect(dependsOn['front-ca']?.condition).toBe('service_completed_successfully');
      const healthcheck = service.healthcheck as Record<string, unknown>;
      expect(healthcheck.test).toEqual(['CMD', 'node', '/app/healthcheck.mjs']);
      expect(readRepoFile('infra/docker/healthcheck.mjs')).toMatch(
        /http:\/\/127\.0\.0\.1:\$\{port\}\/readyz/,
      );
      // The server's own grace period is 10 s (lifecycle.ts); Compose must wait longer before SIGKILL.
      expect(service.stop_grace_period).toBe('15s');
    });

    it('is migrated by the project runner against the same database', () => {
      const job = services[`migrate-${server}`] ?? {};
      expect(job.image).toBe(service.image);
      expect(job.command).toEqual([
        'node',
        'node_modules/@aauth-ref/db/bin/aauth-migrate.js',
        'prisma/migrations',
      ]);
      expect(toEnvRecord(job.environment).DATABASE_URL).toBe(env.DATABASE_URL);
      expect((job.depends_on as Record<string, { condition: string }>).postgres?.condition).toBe(
        'service_healthy',
      );
    });
  });

  it('wires call chaining: a resource names another resource container as DOWNSTREAM_RESOURCE', () => {
    const resources = COMPOSE_SERVERS.filter((s) => s.app === 'resource-server');
    expect(resources.length).toBeGreaterThanOrEqual(2);
    const chained = resources.filter(({ service }) => envOf(service).DOWNSTREAM_RESOURCE !== undefined);
    expect(chained.length).toBeGreaterThan(0);
    for (const { service } of chained) {
      const env = envOf(service);
      const downstream = resources.find((r) => envOf(r.service).ISSUER === env.DOWNSTREAM_RESOURCE);
      expect(downstream, `${service}: DOWNSTREAM_RESOURCE ${env.DOWNSTREAM_RESOURCE}`).toBeDefined();
      expect(downstream?.service).not.toBe(service);
      expect(describeIssuerProblem(env.DOWNSTREAM_RESOURCE)).toBeUndefined();
      expect((env.AAUTH_EGRESS_ALLOW ?? '').split(/[\s,]+/)).toContain(
        new URL(env.DOWNSTREAM_RESOURCE ?? '').hostname,
      );
      // No cycle: the downstream does not chain back.
      expect(envOf(downstream?.service ?? '').DOWNSTREAM_RESOURCE).toBeUndefined();
    }
  });

  it('creates one database per server container in PostgreSQL', () => {
    const sql = readRepoFile('infra/postgres/init-databases.sql');
    for (const { database } of COMPOSE_SERVERS) expect(sql).toContain(`CREATE DATABASE ${database};`);
    expect(SERVER_NAMES.every((app) => COMPOSE_SERVERS.some((s) => s.service === app))).toBe(true);
  });

  it('runs no server container that the list above does not know', () => {
    const servers = Object.entries(services)
      .filter(([, service]) => (service.healthcheck as { test?: unknown } | undefined)?.test !== undefined)
      .filter(([, service]) => String(service.image).startsWith('aauth-ref/'))
      .map(([name]) => name);
    expect(servers.sort()).toEqual(COMPOSE_SERVERS.map((s) => s.service).sort());
  });
});
