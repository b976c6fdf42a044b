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
