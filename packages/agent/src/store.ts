import type { PrivateJwk } from '@aauth-ref/core';

/** The agent token and the moment (epoch seconds) it stops being usable. */
export interface StoredAgentToken {
  readonly agent_token: string;
  readonly expires_at: number;
}

/** What enrollment with an Agent Provider established. */
export interface StoredEnrollment {
  /** The AP's issuer identifier. */
  readonly agent_provider: string;
  readonly agent_token_endpoint: string;
  readonly enrollment_endpoint?: string;
  /** The agent identifier the AP reported on approval. */
  readonly agent?: string;
  /** The Person Server this agent works with (asked for at enrollment). */
  readonly ps?: string;
}

/** A person or auth token held for one resource, bound to the key whose thumbprint is `jkt`. */
export interface CachedToken {
  readonly token: string;
  /** Epoch seconds. */
  readonly expires_at: number;
  readonly jkt: string;
  /** The person's directed identifier at the resource (`sub`). */
  readonly sub?: string;
}

/** Every entry the agent persists; one file each in the file store. */
export interface AgentStoreData {
  readonly 'durable-key': PrivateJwk;
  readonly 'ephemeral-key': PrivateJwk;
  readonly 'agent-token': StoredAgentToken;
  readonly enrollment: StoredEnrollment;
  /** Keyed by resource (and mission): see `personTokenKey`. */
  readonly 'person-tokens': Readonly<Record<string, CachedToken>>;
  /** Keyed by resource. */
  readonly 'auth-tokens': Readonly<Record<string, CachedToken>>;
  /** `AAuth-Access` session tokens, keyed by resource. */
  readonly sessions: Readonly<Record<string, string>>;
}

export type AgentStoreEntry = keyof AgentStoreData;

export const STORE_ENTRIES: readonly AgentStoreEntry[] = [
  'durable-key',
  'ephemeral-key',
  'agent-token',
  'enrollment',
  'person-tokens',
  'auth-tokens',
  'sessions',
];

export interface AgentStore {
  read<E extends AgentStoreEntry>(entry: E): Promise<AgentStoreData[E] | undefined>;
  write<E extends AgentStoreEntry>(entry: E, value: AgentStoreData[E]): Promise<void>;
  /** Forgets keys and tokens (`aauth logout`). */
  clear(): Promise<void>;
}

/** An in-memory store for tests and short-lived agents. Values are copied in and out. */
export function createMemoryStore(): AgentStore {
  const entries = new Map<AgentStoreEntry, string>();
  return {
    async read(entry) {
      const raw = entries.get(entry);
      return raw === undefined ? undefined : JSON.parse(raw);
    },
    async write(entry, value) {
      entries.set(entry, JSON.stringify(value));
    },
    async clear() {
      entries.clear();
    },
  };
}
