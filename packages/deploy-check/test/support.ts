import { expect } from 'vitest';
import { type EnvReference, extractEnvReferenceBlock, parseEnvReference } from '../src/env-reference.js';
import { readRepoFile } from '../src/files.js';
import { SERVER_NAMES, type ServerName } from '../src/servers.js';

/** Each server's environment reference as pasted in infra/README.md (kept in sync by a test). */
export function documentedReferences(): ReadonlyMap<ServerName, EnvReference> {
  const readme = readRepoFile('infra/README.md');
  return new Map(
    SERVER_NAMES.map((server) => {
      const block = extractEnvReferenceBlock(readme, server);
      if (block === undefined) throw new Error(`infra/README.md has no env reference for ${server}`);
      return [server, parseEnvReference(block)];
    }),
  );
}

/** `KEY=value` lines or a mapping, as Compose and Kubernetes ConfigMaps write environments. */
export function toEnvRecord(value: unknown): Record<string, string> {
  if (Array.isArray(value)) {
    return Object.fromEntries(
      value.map((entry) => {
        const text = String(entry);
        const at = text.indexOf('=');
        return at < 0 ? [text, ''] : [text.slice(0, at), text.slice(at + 1)];
      }),
    );
  }
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, String(v)]));
  }
  return {};
}

/** A Compose service's `source:target[:ro]` volume entries. */
export function mountsOf(
  service: Record<string, unknown>,
): { source: string; target: string; readOnly: boolean }[] {
  return ((service.volumes as unknown[] | undefined) ?? []).map((entry) => {
    const [source = '', target = '', mode] = String(entry).split(':');
    return { source, target, readOnly: mode === 'ro' };
  });
}

/**
 * A container that calls the stack's https names trusts the front's root from the front-ca volume
 * (read-only, filled by the front-ca job from Caddy's PKI) and never mounts caddy-data, where the
 * CA's private keys live.
 */
export function expectFrontRootTrusted(
  services: Record<string, Record<string, unknown>>,
  service: Record<string, unknown>,
  env: Record<string, string>,
): void {
  expect(mountsOf(service).some((m) => m.source === 'caddy-data')).toBe(false);
  const caMount = mountsOf(service).find((m) => m.source === 'front-ca');
  expect(caMount?.readOnly).toBe(true);
  expect(env.NODE_EXTRA_CA_CERTS).toBe(`${caMount?.target}/root.crt`);
  const job = services['front-ca'] ?? {};
  const jobCa = mountsOf(job).find((m) => m.source === 'front-ca');
  const jobData = mountsOf(job).find((m) => m.source === 'caddy-data');
  const caddyData = mountsOf(services.caddy ?? {}).find((m) => m.source === 'caddy-data');
  expect(caddyData?.target).toBe('/data');
  expect(jobData?.readOnly).toBe(true);
  const script = String(((job.command ?? []) as string[])[0]);
  expect(script).toContain(`cp ${jobData?.target}/caddy/pki/authorities/local/root.crt ${jobCa?.target}/`);
  expect(script).toMatch(/chmod 0644/);
  expect(script).toContain(`mv ${jobCa?.target}/root.crt.tmp ${jobCa?.target}/root.crt`);
  expect((job.depends_on as Record<string, { condition: string }>).caddy?.condition).toBe('service_healthy');
  expect((service.depends_on as Record<string, { condition: string }>)['front-ca']?.condition).toBe(
    'service_completed_successfully',
  );
}
