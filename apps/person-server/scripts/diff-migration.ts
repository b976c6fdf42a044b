/**
 * Prints the SQL that takes the database from the committed migrations to `prisma/schema.prisma`,
 * using Prisma's own schema engine compiled to WebAssembly (`@prisma/schema-engine-wasm`, the same
 * build as the CLI) on an in-memory PGlite, so no native engine download is needed.
 *
 *   pnpm --filter @aauth-ref/person-server migration:sql > prisma/migrations/<ts>_<name>/migration.sql
 *
 * With no migrations yet it diffs from an empty database (the `init` migration). Review the output
 * before committing it; migrations are never edited after they land.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openDatabase, readMigrations } from '@aauth-ref/db';
import { bindMigrationAwareSqlAdapterFactory } from '@prisma/driver-adapter-utils';
import * as bindings from '@prisma/schema-engine-wasm/schema_engine_bg';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const schemaPath = join(root, 'prisma', 'schema.prisma');
const migrationsDir = join(root, 'prisma', 'migrations');

/** The part of the WebAssembly API used here (the repository's `lib` has no DOM types). */
declare const WebAssembly: {
  instantiate(
    bytes: Uint8Array,
    imports: Record<string, Record<string, unknown>>,
  ): Promise<{ instance: { exports: Record<string, unknown> } }>;
};

/** Node cannot import `.wasm` as a module yet: instantiate it by hand, as the package's entry would. */
async function loadSchemaEngine(): Promise<typeof bindings.SchemaEngine> {
  const wasmPath = createRequire(import.meta.url)
    .resolve('@prisma/schema-engine-wasm/schema_engine_bg')
    .replace(/schema_engine_bg\.js$/, 'schema_engine_bg.wasm');
  const { instance } = await WebAssembly.instantiate(await readFile(wasmPath), {
    './schema_engine_bg.js': bindings as unknown as Record<string, unknown>,
  });
  bindings.__wbg_set_wasm(instance.exports as never);
  (instance.exports.__wbindgen_start as () => void)();
  return bindings.SchemaEngine;
}

const SchemaEngine = await loadSchemaEngine();
const schema = await readFile(schemaPath, 'utf8');
const db = await openDatabase({ memory: true });
try {
  // The engine calls the error-capturing wrapper Prisma's CLI hands it, not the bare factory.
  const adapter = bindMigrationAwareSqlAdapterFactory(db.adapter);
  const engine = await SchemaEngine.new({ datamodels: [[schemaPath, schema]] }, () => undefined, adapter);
  const migrations = await readMigrations(migrationsDir).catch(() => []);
  const from =
    migrations.length === 0
      ? { tag: 'empty' as const }
      : {
          tag: 'migrations' as const,
          baseDir: migrationsDir,
          lockfile: { path: 'migration_lock.toml', content: 'provider = "postgresql"\n' },
          migrationDirectories: migrations.map((m) => ({
            path: m.name,
            migrationFile: { path: 'migration.sql', content: { tag: 'ok' as const, value: m.sql } },
          })),
          shadowDbInitScript: '',
        };
  const result = await engine.diff({
    from: from as never,
    to: { tag: 'schemaDatamodel', files: [{ path: schemaPath, content: schema }] } as never,
    script: true,
    exitCode: null,
    filters: { externalTables: [], externalEnums: [] },
  } as never);
  process.stdout.write(result.stdout ?? '');
} finally {
  await db.close();
}
