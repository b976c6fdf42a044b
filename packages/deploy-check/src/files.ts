import { readFileSync } from 'node:fs';
import { parseAllDocuments, parseDocument } from 'yaml';
import { REPO_ROOT } from './servers.js';

export function readRepoFile(path: string): string {
  return readFileSync(`${REPO_ROOT}${path}`, 'utf8');
}

/** One YAML document (anchors and aliases resolved); throws on a syntax error. */
export function readYaml(path: string): unknown {
  const doc = parseDocument(readRepoFile(path));
  if (doc.errors.length > 0) throw doc.errors[0];
  return doc.toJS({ maxAliasCount: 100 });
}

/** Every document of a multi-document YAML file (Kubernetes manifests). */
export function readYamlDocuments(path: string): unknown[] {
  return parseAllDocuments(readRepoFile(path)).map((doc) => {
    if (doc.errors.length > 0) throw doc.errors[0];
    return doc.toJS();
  });
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
