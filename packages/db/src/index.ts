export {
  type ApplyMigrationsOptions,
  type ApplyMigrationsResult,
  applyMigrations,
  computeChecksum,
  isMigrationStatusReady,
  MigrationError,
  type MigrationErrorCode,
  type MigrationFile,
  type MigrationStatus,
  migrationStatus,
  readMigrations,
  scriptMatchesChecksum,
} from './migrations.js';
export { openDatabase } from './open-database.js';
export { openServerDatabase } from './open-server-database.js';
export { type DiffSchemaOptions, diffSchemaAgainstMigrations, MIGRATION_LOCKFILE } from './prisma-engine.js';
export { createReadinessCheck } from './readiness.js';
export { createDatabaseReplayCache, type DatabaseReplayCache } from './replay-cache.js';
export type {
  Database,
  DatabaseKind,
  DatabaseLogger,
  OpenDatabaseOptions,
  Queryable,
  Row,
  Session,
} from './types.js';
