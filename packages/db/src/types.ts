import type { SqlMigrationAwareDriverAdapterFactory } from '@prisma/driver-adapter-utils';

/** A row as the driver returns it: column name → value. */
export type Row = Record<string, unknown>;

/**
 * Something that runs SQL. Without `params` the text may hold several statements (simple query
 * protocol) and the rows of the last one are returned; with `params` it is one statement.
 */
export interface Queryable {
  exec<R extends object = Row>(sql: string, params?: readonly unknown[]): Promise<R[]>;
}

/** Structural subset of pino's logger, so a server passes its own. */
export interface DatabaseLogger {
  info(obj: Record<string, unknown>, msg?: string): void;
  warn(obj: Record<string, unknown>, msg?: string): void;
}

export type DatabaseKind = 'postgres' | 'pglite';

export interface Database extends Queryable {
  readonly kind: DatabaseKind;
  /** Prisma 7 driver adapter factory: `new PrismaClient({ adapter: db.adapter })`. */
  readonly adapter: SqlMigrationAwareDriverAdapterFactory;
  /** Runs `fn` in one transaction on one connection; commits when it resolves, rolls back when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /**
   * Runs `fn` on one dedicated connection (session-level state such as advisory locks stays with it).
   * On PGlite the whole database is one session, so this runs `fn` behind an in-process mutex.
   */
  session<T>(fn: (session: Session) => Promise<T>): Promise<T>;
  /** True when the database answers a trivial query (for `/readyz`). Never throws. */
  ping(): Promise<boolean>;
  /** Releases connections (PostgreSQL) or the shared PGlite instance once its last user closes. */
  close(): Promise<void>;
}

export interface Session extends Queryable {
  readonly kind: DatabaseKind;
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
}

export interface OpenDatabaseOptions {
  /** PostgreSQL connection string; when set, PostgreSQL through `pg` + `@prisma/adapter-pg`. */
  url?: string;
  /** PGlite data folder (used when `url` is absent and `memory` is not set). */
  dataDir?: string;
  /** PGlite in memory (tests, throwaway runs). */
  memory?: boolean;
  /** Pool size for PostgreSQL (default 10). */
  poolSize?: number;
  logger?: DatabaseLogger;
}
