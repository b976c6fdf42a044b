import { describe, expect, it } from 'vitest';
import { defaultPort, requiredVariables } from '../src/env-reference.js';
import { isRecord, readYamlDocuments } from '../src/files.js';
import { describeIssuerProblem } from '../src/identifiers.js';
import { SERVER_NAMES } from '../src/servers.js';
import { documentedReferences } from './support.js';

/** infra/k8s/<server>.yaml: the manifests agree with each server's own environment reference. */

type Manifest = Record<string, unknown> & {
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
};
type Container = Record<string, unknown> & { name: string };

const references = documentedReferences();

function manifestsOf(server: string): Manifest[] {
  return readYamlDocuments(`infra/k8s/${server}.yaml`).filter(
    (doc): doc is Manifest => isRecord(doc) && typeof doc.kind === 'string',
  );
}

function find(manifests: Manifest[], kind: string, name: string): Manifest {
  const found = manifests.find((m) => m.kind === kind && m.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name}`);
  return found;
}

function podSpecOf(workload: Manifest): Record<string, unknown> {
  return (
    ((workload.spec as Record<string, unknown>).template as Record<string, Record<string, unknown>>).spec ??
    {}
  );
}

function firstContainer(workload: Manifest): Container {
  return (podSpecOf(workload).containers as Container[])[0] as Container;
}

function secretKeys(secret: Manifest): string[] {
  return Object.keys({
    ...(secret.data as object | undefined),
    ...(secret.stringData as object | undefined),
  });
}

describe.each(SERVER_NAMES)('infra/k8s/%s.yaml', (server) => {
  const manifests = manifestsOf(server);
  const reference = references.get(server);
  if (!reference) throw new Error(`no reference for ${server}`);
  const config = find(manifests, 'ConfigMap', `${server}-config`).data as Record<string, string>;
  const deployment = find(manifests, 'Deployment', server);
  const container = firstContainer(deployment);
  const keysSecret = find(manifests, 'Secret', `${server}-keys`);
  const databaseSecret = find(manifests, 'Secret', `${server}-database`);

  /** What the container's environment holds: ConfigMap values and the names a Secret provides. */
  function containerEnv(c: Container): Map<string, string | undefined> {
    const env = new Map<string, string | undefined>();
    for (const source of (c.envFrom as Record<string, { name: string }>[] | undefined) ?? []) {
      if (source.configMapRef) {
        const map = find(manifests, 'ConfigMap', source.configMapRef.name).data as Record<string, string>;
        for (const [k, v] of Object.entries(map)) env.set(k, v);
      }
      if (source.secretRef) {
        for (const k of secretKeys(find(manifests, 'Secret', source.secretRef.name))) env.set(k, undefined);
      }
    }
    for (const entry of (c.env as { name: string; value?: string }[] | undefined) ?? [])
      env.set(entry.name, entry.value);
    return env;
  }

  it('has the five kinds: ConfigMap, Secret, Job, Deployment, Service', () => {
    expect(new Set(manifests.map((m) => m.kind))).toEqual(
      new Set(['ConfigMap', 'Secret', 'Job', 'Deployment', 'Service']),
    );
  });

  it('sets every variable strict mode requires and DATABASE_URL, in strict mode', () => {
    const env = containerEnv(container);
    for (const name of [...requiredVariables(reference), 'DATABASE_URL']) {
      expect(env.has(name), `${server}: ${name}`).toBe(true);
    }
    expect(['0', undefined]).toContain(env.get('AAUTH_DEV'));
    for (const name of env.keys())
      expect(reference.variables.has(name), `${server} does not read ${name}`).toBe(true);
    // Connection strings carry passwords: a Secret, never the ConfigMap.
    expect(config).not.toHaveProperty('DATABASE_URL');
    expect(secretKeys(databaseSecret)).toEqual(['DATABASE_URL']);
  });

  it('has a conformant https issuer without a port (§Server Identifiers)', () => {
    expect(describeIssuerProblem(config.ISSUER)).toBeUndefined();
  });

  it('mounts the key ring from the Secret read-only where SIGNING_KEYS points', () => {
    const mount = (container.volumeMounts as { name: string; mountPath: string; readOnly?: boolean }[]).find(
      (m) => m.name === 'keys',
    );
    expect(mount?.readOnly).toBe(true);
    const volume = (
      podSpecOf(deployment).volumes as { name: string; secret?: Record<string, unknown> }[]
    ).find((v) => v.name === 'keys');
    expect(volume?.secret?.secretName).toBe(`${server}-keys`);
    const keyVars = requiredVariables(reference).filter((name) => name.endsWith('SIGNING_KEYS'));
    for (const name of keyVars) {
      const file = config[name];
      expect(file?.startsWith(`${mount?.mountPath}/`), name).toBe(true);
      expect(secretKeys(keysSecret)).toContain(file?.slice(`${mount?.mountPath}/`.length));
    }
    // The committed Secrets are templates: applying the file with this selector never overwrites them.
    for (const secret of [keysSecret, databaseSecret]) {
      expect(
        (secret.metadata as { labels: Record<string, string> }).labels['app.kubernetes.io/component'],
      ).toBe('secret');
    }
  });

  it('listens on the port the ConfigMap names, probed on /healthz and /readyz, served by the Service', () => {
    const port = Number(config.PORT ?? defaultPort(reference));
    expect(port).toBe(defaultPort(reference));
    const ports = container.ports as { name: string; containerPort: number }[];
    expect(ports).toEqual([{ name: 'http', containerPort: port }]);
    expect(container.livenessProbe).toMatchObject({ httpGet: { path: '/healthz', port: 'http' } });
    expect(container.readinessProbe).toMatchObject({ httpGet: { path: '/readyz', port: 'http' } });
    const service = find(manifests, 'Service', server).spec as Record<string, unknown>;
    expect(service.selector).toEqual({ 'app.kubernetes.io/name': server });
    expect(service.ports).toEqual([{ name: 'http', port: 80, targetPort: 'http' }]);
    // SIGTERM grace: the server itself allows 10 s.
    expect(podSpecOf(deployment).terminationGracePeriodSeconds).toBeGreaterThan(10);
  });

  it('runs non-root', () => {
    for (const workload of [deployment, find(manifests, 'Job', `${server}-migrate`)]) {
      expect(podSpecOf(workload).securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000 });
    }
  });

  it('migrates with the project runner against the same database Secret', () => {
    const job = find(manifests, 'Job', `${server}-migrate`);
    const migrate = firstContainer(job);
    expect(migrate.image).toBe(container.image);
    expect(migrate.command).toEqual([
      'node',
      'node_modules/@aauth-ref/db/bin/aauth-migrate.js',
      'prisma/migrations',
    ]);
    expect(migrate.envFrom).toEqual([{ secretRef: { name: `${server}-database` } }]);
  });
});
