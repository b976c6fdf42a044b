import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { diffSchemaAgainstMigrations } from '../src/index.js';
import { copyFixtureMigrations, fixtureMigrationsDir, fixtureSchemaPath } from './helpers.js';

// Prisma's schema engine (WebAssembly) replays the migrations on an in-memory PGlite shadow database.
describe('diffSchemaAgainstMigrations', () => {
  it('finds nothing to add when the committed migrations produce the schema', async () => {
    expect(
      await diffSchemaAgainstMigrations({
        schemaPath: fixtureSchemaPath,
        migrationsDir: fixtureMigrationsDir,
      }),
    ).toBe('');
  });

  it('prints the SQL for what the migrations lack', async () => {
    const copy = await copyFixtureMigrations();
    try {
      await rm(join(copy.dir, '20261129100301_add_display_name'), { recursive: true });
      const script = await diffSchemaAgainstMigrations({
        schemaPath: fixtureSchemaPath,
        migrationsDir: copy.dir,
      });
      expect(script).toContain('ALTER TABLE "accounts" ADD COLUMN');
      expect(script).toContain('"display_name" TEXT');

      await rm(join(copy.dir, '20261129100226_init'), { recursive: true });
      await rm(join(copy.dir, 'migration_lock.toml'));
      const initial = await diffSchemaAgainstMigrations({
        schemaPath: fixtureSchemaPath,
        migrationsDir: copy.dir,
      });
      expect(initial).toContain('CREATE TABLE "accounts"');
      expect(initial).toContain('CREATE TABLE "notes"');
    } finally {
      await copy.remove();
    }
  });
});
