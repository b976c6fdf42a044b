import { describe, expect, it } from 'vitest';
import { parseCaddySites } from '../src/caddyfile.js';
import { defaultPort, requiredVariables } from '../src/env-reference.js';
import { isRecord, readRepoFile, readYaml } from '../src/files.js';
import { describeIssuerProblem } from '../src/identifiers.js';
import { SERVER_NAMES } from '../src/servers.js';
import { documentedReferences, toEnvRecord } from './support.js';

/** docker-compose.yml: the servers, their jobs and the TLS front agree with the servers' own reference. */

const compose = readYaml('docker-compose.yml');
if (!isRecord(compose) || !isRecord(compose.services)) throw new Error('docker-compose.yml has no services');
const services = compose.services as Record<string, Record<string, unknown>>;
const references = documentedReferences();
const caddySites = parseCaddySites(readRepoFile('infra/compose/Caddyfile'));
const publicHosts = SERVER_NAMES.map(
  (server) => new URL(toEnvRecord(services[server]?.environment).ISSUER ?? 'https://invalid').hostname,
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

  describe.each(SERVER_NAMES)('%s', (server) => {
    const service = services[server] ?? {};
    const env = envOf(server);
    const reference = references.get(server);
    if (!reference) throw new Error(`no reference for ${server}`);
    const port = Number(env.PORT ?? defaultPort(reference));

    it('sets every variable strict mode requires, a PostgreSQL URL, and no dev mode', () => {
      for (const name of requiredVariables(reference)) {
        expect(env[name], `${server}: ${name}`).toBeTruthy();
      }
      expect(env.DATABASE_URL).toMatch(
        new RegExp(`^postgresql://[^@]+@postgres:5432/${server.replace('-', '_')}$`),
      );
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
      expect(build.args).toMatchObject({ APP: server, PORT: String(port) });
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

    it('admits the stack names for egress and trusts the front CA from the shared volume', () => {
      const allowed = (env.AAUTH_EGRESS_ALLOW ?? '').split(/[\s,]+/);
      for (const host of publicHosts) expect(allowed).toContain(host);
      const caMount = mountTargets(service).find((m) => m.source === 'caddy-data');
      expect(caMount?.readOnly).toBe(true);
      const caddyData = mountTargets(services.caddy ?? {}).find((m) => m.source === 'caddy-data');
      expect(caddyData?.target).toBe('/data');
      expect(env.NODE_EXTRA_CA_CERTS).toBe(`${caMount?.target}/caddy/pki/authorities/local/root.crt`);
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

    it('waits for its migration job, the keys and the front, and is checked on /readyz', () => {
      const dependsOn = service.depends_on as Record<string, { condition: string }>;
      expect(dependsOn[`migrate-${server}`]?.condition).toBe('service_completed_successfully');
      expect(dependsOn.keys?.condition).toBe('service_completed_successfully');
      expect(dependsOn.caddy?.condition).toBe('service_healthy');
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

  it('creates one database per server in PostgreSQL', () => {
    const sql = readRepoFile('infra/postgres/init-databases.sql');
    for (const server of SERVER_NAMES) expect(sql).toContain(`CREATE DATABASE ${server.replace('-', '_')};`);
  });
});
