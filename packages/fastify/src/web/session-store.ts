import { createHash, randomBytes } from 'node:crypto';
import { type Clock, systemClock } from '@aauth-ref/core';

/**
 * Server-side sessions for person-facing pages. A session cookie carries only a random id (256 bits);
 * the database keeps the SHA-256 of it, so a leaked table does not hand out live sessions. The
 * session lives in the app's database, so signing out and revocation take effect everywhere.
 */

export interface Session {
  /** The id for the cookie. Only the `create`/`rotate` results carry it; it is never stored. */
  readonly id: string;
  readonly personId: string;
  /** Milliseconds since the epoch. */
  readonly createdAt: number;
  readonly expiresAt: number;
}

/** What a page-serving app needs from its session storage (the kit's `createSessionStore` provides it). */
export interface SessionStore {
  /** A new session for `personId`, valid `ttlSeconds`. */
  create(personId: string, ttlSeconds: number): Promise<Session>;
  /** The unexpired session with this id, or `undefined`. */
  get(id: string): Promise<Session | undefined>;
  destroy(id: string): Promise<void>;
  /**
   * Replaces the session with a fresh id (same person, same expiry) and destroys the old one; used on
   * sign-in and privilege changes so an id planted before sign-in is worthless after it.
   */
  rotate(id: string): Promise<Session | undefined>;
}

/** A stored row: keyed by `idHash`, never by the id itself. */
export interface SessionRecord {
  readonly idHash: string;
  readonly personId: string;
  readonly createdAt: number;
  readonly expiresAt: number;
}

/**
 * The persistence an app implements with Prisma (a table keyed by `id_hash`); the kit does id
 * generation, hashing and expiry on top of it.
 */
export interface SessionBackend {
  insert(record: SessionRecord): Promise<void>;
  find(idHash: string): Promise<SessionRecord | undefined>;
  delete(idHash: string): Promise<void>;
}

/** 32 random bytes, base64url (256 bits; OWASP asks for at least 128). */
export function generateSessionId(): string {
  return randomBytes(32).toString('base64url');
}

export function hashSessionId(id: string): string {
  return createHash('sha256').update(id).digest('base64url');
}

/** Ids are 43 base64url characters; anything else is not looked up at all. */
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;

export interface SessionStoreOptions {
  readonly clock?: Clock;
}

export function createSessionStore(backend: SessionBackend, options: SessionStoreOptions = {}): SessionStore {
  const clock = options.clock ?? systemClock;

  async function insert(personId: string, createdAt: number, expiresAt: number): Promise<Session> {
    const id = generateSessionId();
    await backend.insert({ idHash: hashSessionId(id), personId, createdAt, expiresAt });
    return { id, personId, createdAt, expiresAt };
  }

  async function find(id: string): Promise<SessionRecord | undefined> {
    if (!SESSION_ID.test(id)) return undefined;
    const record = await backend.find(hashSessionId(id));
    if (!record) return undefined;
    if (record.expiresAt <= clock.now()) {
      await backend.delete(record.idHash);
      return undefined;
    }
    return record;
  }

  return {
    async create(personId, ttlSeconds) {
      if (!(ttlSeconds > 0)) throw new TypeError('session ttl must be positive');
      const now = clock.now();
      return insert(personId, now, now + ttlSeconds * 1000);
    },
    async get(id) {
      const record = await find(id);
      return (
        record && { id, personId: record.personId, createdAt: record.createdAt, expiresAt: record.expiresAt }
      );
    },
    async destroy(id) {
      if (SESSION_ID.test(id)) await backend.delete(hashSessionId(id));
    },
    async rotate(id) {
      const record = await find(id);
      if (!record) return undefined;
      await backend.delete(record.idHash);
      return insert(record.personId, clock.now(), record.expiresAt);
    },
  };
}

/** An in-memory backend for tests and single-process demos; expired rows are dropped as they are read. */
export function createMemorySessionBackend(): SessionBackend & { readonly size: () => number } {
  const rows = new Map<string, SessionRecord>();
  return {
    async insert(record) {
      rows.set(record.idHash, record);
    },
    async find(idHash) {
      return rows.get(idHash);
    },
    async delete(idHash) {
      rows.delete(idHash);
    },
    size: () => rows.size,
  };
}

/** `createSessionStore` over an in-memory backend. */
export function createMemorySessionStore(options: SessionStoreOptions = {}): SessionStore {
  return createSessionStore(createMemorySessionBackend(), options);
}
