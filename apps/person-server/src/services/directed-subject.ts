import { randomBytes } from 'node:crypto';
import type { DirectedSubjectStore } from './ports.js';

/**
 * Directed `sub` per (person, resource) (§Directed Identifiers, §Directed Identifiers Across a Chain).
 * The value is 16 random bytes, base64url, stored on first use: opaque, unique within this PS (the
 * store enforces `(resource, sub)` uniqueness), independent of agent and key, and — unlike an HMAC of
 * the person id — unaffected by any key rotation, so a resource's record of the person never breaks.
 */

function generateDirectedSubject(): string {
  return randomBytes(16).toString('base64url');
}

/** The person's `sub` at `resource`, minted and stored the first time it is needed. */
export async function resolveDirectedSubject(
  store: DirectedSubjectStore,
  personId: string,
  resource: string,
): Promise<string> {
  const existing = await store.find(personId, resource);
  if (existing !== undefined) return existing;
  return store.findOrCreate(personId, resource, generateDirectedSubject());
}
