import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { diffSchemaAgainstMigrations, MIGRATION_LOCKFILE } from './prisma-engine.js';

const USAGE = `usage: aauth-db-diff [--schema prisma/schema.prisma] [--migrations prisma/migrations] [--name <name> | --check]

Compares the committed migrations with the schema using Prisma's schema engine (WebAssembly build,
in-memory PGlite shadow database; no native engine, no server).
  (no flag)      print the SQL that takes the migrations to the schema
  --name <name>  write it as a new migration folder <UTC timestamp>_<name>/migration.sql
  --check        exit 1 when the migrations do not produce the schema (for CI)`;

export async function runDiffCli(argv: readonly string[]): Promise<number> {
  const options = parseArgs(argv);
  if (options === undefined) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const script = await diffSchemaAgainstMigrations(options);
  if (options.check) {
    if (script === '') return 0;
    process.stderr.write(
      `The migrations in ${options.migrationsDir} do not produce the schema; missing:\n${script}\n`,
    );
    return 1;
  }
  if (script === '') {
    process.stderr.write('No difference: the migrations already produce the schema.\n');
    return 0;
  }
  if (options.name === undefined) {
    process.stdout.write(script);
    return 0;
  }
  const folder = `${utcTimestamp(new Date())}_${options.name}`;
  await mkdir(join(options.migrationsDir, folder), { recursive: true });
  await writeFile(join(options.migrationsDir, folder, 'migration.sql'), script);
  const lockPath = join(options.migrationsDir, 'migration_lock.toml');
  if ((await readFile(lockPath, 'utf8').catch(() => undefined)) === undefined)
    await writeFile(lockPath, MIGRATION_LOCKFILE);
  process.stdout.write(`${join(options.migrationsDir, folder, 'migration.sql')}\n`);
  return 0;
}

interface DiffCliOptions {
  schemaPath: string;
  migrationsDir: string;
  name?: string;
  check: boolean;
}

function parseArgs(argv: readonly string[]): DiffCliOptions | undefined {
  const options: DiffCliOptions = {
    schemaPath: resolve('prisma/schema.prisma'),
    migrationsDir: resolve('prisma/migrations'),
    check: false,
  };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    const value = argv[i + 1];
    if (arg === '--check') options.check = true;
    else if (arg === '--schema' && value !== undefined) options.schemaPath = resolve(value);
    else if (arg === '--migrations' && value !== undefined) options.migrationsDir = resolve(value);
    else if (arg === '--name' && value !== undefined && /^[A-Za-z0-9_]+$/.test(value)) options.name = value;
    else return undefined;
    if (arg !== '--check') i += 1;
  }
  if (options.check && options.name !== undefined) return undefined;
  return options;
}

/** Prisma's folder prefix: `YYYYMMDDHHMMSS` in UTC. */
function utcTimestamp(date: Date): string {
  return date.toISOString().replace(/[-:T]/g, '').slice(0, 14);
}
