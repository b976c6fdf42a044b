import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { envOf, instructionsOf, parseDockerfile } from '../src/dockerfile.js';
import { isRecord, readRepoFile, readYaml } from '../src/files.js';
import { COMPOSE_SERVERS, REPO_ROOT } from '../src/servers.js';
import { expectFrontRootTrusted, toEnvRecord } from './support.js';

/** The agent CLI image and the compose `agent` service (`docker compose run --rm agent aauth …`). */

const compose = readYaml('docker-compose.yml');
if (!isRecord(compose) || !isRecord(compose.services)) throw new Error('docker-compose.yml has no services');
const services = compose.services as Record<string, Record<string, unknown>>;
const agent = services.agent ?? {};
const agentEnv = toEnvRecord(agent.environment);
const stages = parseDockerfile(readRepoFile('infra/docker/Dockerfile'));
const agentPackage = JSON.parse(readRepoFile('packages/agent/package.json')) as {
  name: string;
  bin?: Record<string, string>;
  files?: string[];
};

function mounts(service: Record<string, unknown>) {
  return ((service.volumes as unknown[] | undefined) ?? []).map((entry) => {
    const [source = '', target = '', mode] = String(entry).split(':');
    return { source, target, readOnly: mode === 'ro' };
  });
}

function stage(name: string) {
  const found = stages.find((s) => s.name === name);
  if (!found) throw new Error(`infra/docker/Dockerfile has no stage ${name}`);
  return found;
}

describe('the agent image (infra/docker/Dockerfile, target agent)', () => {
  it('is built from packages/agent with the same recipe as the servers', () => {
    const build = agent.build as Record<string, unknown>;
    expect(build.dockerfile).toBe('infra/docker/Dockerfile');
    expect(build.context).toBe('.');
    expect(build.target).toBe('agent');
    expect((build.args as Record<string, string>).APP).toBe('agent');
    expect(agentPackage.name).toBe('@aauth-ref/agent');
    expect(existsSync(`${REPO_ROOT}packages/agent`)).toBe(true);
    expect(agent.image).toBe('aauth-ref/agent:dev');
    // The prune, build and deploy stages are shared: one recipe for servers and agent.
    expect(stage('agent').from).toBe('base');
    expect(stage('runtime').from).toBe('base');
  });

  it('keeps the server image as the default (last) stage', () => {
    const last = stages.at(-1);
    expect(last?.name).toBe('runtime');
    expect(instructionsOf(stage('runtime'), 'HEALTHCHECK')).toHaveLength(1);
    expect(instructionsOf(stage('agent'), 'HEALTHCHECK')).toHaveLength(0);
  });

  it('runs the package bin `aauth` from the production deploy, non-root, under tini', () => {
    const agentStage = stage('agent');
    expect(instructionsOf(agentStage, 'USER').at(-1)).toBe('node');
    expect(instructionsOf(agentStage, 'ENTRYPOINT')).toEqual(['["tini", "--"]']);
    expect(
      instructionsOf(agentStage, 'COPY').some((c) => /--from=build\b.*\/deploy\/ \/app\/$/.test(c)),
    ).toBe(true);
    // The wrapper on PATH execs exactly the bin the package declares.
    const bin = agentPackage.bin?.aauth;
    expect(bin).toBe('./bin/aauth.js');
    expect(instructionsOf(agentStage, 'RUN').join('\n')).toContain(
      `exec node /app/${bin?.slice(2)} "$@"\\n' >/usr/local/bin/aauth`,
    );
    // `pnpm deploy` copies the package's files: the bin and the compiled CLI it runs.
    expect(agentPackage.files).toEqual(expect.arrayContaining(['bin', 'dist']));
    expect(readRepoFile('packages/agent/bin/aauth.js')).toContain('../dist/cli/main.js');
  });

  it('keeps its state in AAUTH_HOME, a named volume the CLI reads', () => {
    const home = envOf(stage('agent')).AAUTH_HOME;
    expect(home).toBe('/home/node/.aauth');
    expect(agentEnv.AAUTH_HOME).toBe(home);
    const mount = mounts(agent).find((m) => m.target === home);
    expect(mount?.source).toMatch(/^[a-z][a-z0-9-]*$/);
    expect(mount?.readOnly).toBe(false);
    expect(isRecord(compose.volumes) && mount?.source !== undefined && mount.source in compose.volumes).toBe(
      true,
    );
    expect(readRepoFile('packages/agent/src/file-store.ts')).toContain('env.AAUTH_HOME');
  });
});

describe('docker-compose.yml agent service', () => {
  it('is a one-off container behind the `agent` profile (`up` does not start it)', () => {
    expect(agent.profiles).toEqual(['agent']);
    expect(agent.restart).toBe('no');
    expect(agent.ports).toBeUndefined();
    for (const [name, service] of Object.entries(services)) {
      if (name === 'agent') continue;
      expect(service.profiles, `${name} must start with \`up\``).toBeUndefined();
      expect(Object.keys((service.depends_on as object | undefined) ?? {})).not.toContain('agent');
    }
  });

  it("reaches the servers' public names through the front and trusts its CA, as the servers do", () => {
    expect(agent.networks).toEqual(['aauth']);
    expectFrontRootTrusted(services, agent, agentEnv);
    const caddyNetworks = (services.caddy?.networks ?? {}) as Record<string, { aliases?: string[] }>;
    const aliases = caddyNetworks.aauth?.aliases ?? [];
    const allowed = (agentEnv.AAUTH_EGRESS_ALLOW ?? '').split(/[\s,]+/);
    for (const { service } of COMPOSE_SERVERS) {
      const host = new URL(toEnvRecord(services[service]?.environment).ISSUER ?? '').hostname;
      expect(aliases).toContain(host);
      expect(allowed).toContain(host);
    }
    // The CLI admits AAUTH_EGRESS_ALLOW (strict egress refuses the bridge's private addresses).
    expect(readFileSync(`${REPO_ROOT}packages/agent/src/cli/main.ts`, 'utf8')).toContain(
      'AAUTH_EGRESS_ALLOW',
    );
    // No dev mode: the agent checks the stack's https identifiers strictly.
    expect(agentEnv.AAUTH_DEV).toBeUndefined();
  });
});
