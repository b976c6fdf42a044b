import type { Capability, PrivateJwk } from '@aauth-ref/core';

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

/** §Mission Creation: a tool the agent asks to use. */
export interface MissionTool {
  readonly name: string;
  readonly description: string;
}

/** An update the PS accepted (§Mission Update): its own `s256` and what changed. */
export interface MissionUpdateRecord {
  readonly s256: string;
  readonly description: string;
}

/**
 * An approved mission as the agent holds it (§Mission Approval): the blob exactly as received
 * (`mission`, unpadded base64url) and its verified members, the PS capabilities returned with the
 * approval, and what the agent learned since (accepted updates, termination).
 */
export interface Mission {
  readonly s256: string;
  /** The blob, unpadded base64url, exactly as the PS returned it. */
  readonly mission: string;
  readonly approver: string;
  readonly agent: string;
  readonly approved_at: string;
  readonly expires_at?: string;
  readonly description: string;
  readonly approved_tools?: readonly MissionTool[];
  readonly approved_resources?: readonly string[];
  /** §Mission Approval `capabilities`: what the PS can provide for the person (not part of the blob). */
  readonly capabilities: readonly Capability[];
  /** Resources a person token was returned (and cached) for. */
  readonly person_token_resources: readonly string[];
  readonly status: 'active' | 'terminated';
  readonly termination_reason?: string;
  readonly updates: readonly MissionUpdateRecord[];
}

/** The missions this agent owns, and the one `aauth mission …` acts on by default. */
export interface StoredMissions {
  readonly current?: string;
  readonly missions: Readonly<Record<string, Mission>>;
}

/** A sub-agent of this agent (§Sub-Agents): its own key and the sub-agent token from the AP. */
export interface StoredSubAgent {
  /** The discriminator after `+` in its local part. */
  readonly name: string;
  readonly agent: string;
  readonly key: PrivateJwk;
  readonly agent_token: string;
  readonly expires_at: number;
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
  readonly missions: StoredMissions;
  /** Keyed by sub-agent name. */
  readonly subagents: Readonly<Record<string, StoredSubAgent>>;
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
  'missions',
  'subagents',
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
