/**
 * What the services need from storage, as plain data. The Prisma implementations live in `stores/`.
 * A person is always `(iss, sub)`: `sub` alone names nobody (§Person Token Verification).
 */

export interface PersonRef {
  readonly iss: string;
  readonly sub: string;
}

/** A verified person token, as §Resource Token Structure needs it later (`presented_jti`). */
export interface PersonTokenRecord {
  readonly iss: string;
  readonly jti: string;
  readonly sub: string;
  readonly mission_s256?: string;
  readonly tenant?: string;
  /** Seconds since the epoch. */
  readonly exp: number;
  /** Thumbprint of `cnf.jwk`. */
  readonly cnfJkt: string;
}

export interface AuthTokenRecord {
  readonly iss: string;
  readonly jti: string;
  readonly ps: string;
  readonly sub: string;
  readonly scope?: string;
  readonly account?: string;
  readonly exp: number;
  readonly cnfJkt: string;
}

export interface PersonTokenLookup {
  readonly cnfJkt: string;
  /** Only tokens unexpired at this time (seconds). */
  readonly after: number;
  readonly iss?: string;
  readonly sub?: string;
}

export interface TokenRecordStore {
  /** Idempotent: a token already recorded is left as it is. */
  recordPersonToken(record: PersonTokenRecord, seenAt: Date): Promise<void>;
  recordAuthToken(record: AuthTokenRecord, seenAt: Date): Promise<void>;
  /** The unexpired person token of this key matching the filters with the latest `exp`. */
  findPersonTokenForKey(lookup: PersonTokenLookup): Promise<PersonTokenRecord | undefined>;
  findPersonToken(iss: string, jti: string): Promise<PersonTokenRecord | undefined>;
  findAuthToken(iss: string, jti: string): Promise<AuthTokenRecord | undefined>;
  /** Whether any person token from this PS was verified here (PERSON_SERVER_TRUST=verified). */
  hasPersonTokenFrom(iss: string): Promise<boolean>;
}

export interface RevocationEntry {
  readonly iss: string;
  readonly jti: string;
  readonly revokedBy: string;
  readonly at: Date;
  readonly expiresAt: Date;
}

export interface RevocationStore {
  /** Idempotent: a second revocation keeps the first. */
  recordRevocation(entry: RevocationEntry): Promise<void>;
}

export interface Note {
  readonly id: string;
  readonly notebook: string;
  readonly text: string;
  readonly created_at: string;
}

export interface NoteStore {
  list(person: PersonRef, notebook: string, limit: number): Promise<Note[]>;
  create(person: PersonRef, notebook: string, text: string, at: Date): Promise<Note>;
  count(person: PersonRef): Promise<number>;
  /** Deletes the note if it is the person's and in that notebook; whether it was. */
  delete(person: PersonRef, notebook: string, id: string): Promise<boolean>;
}
