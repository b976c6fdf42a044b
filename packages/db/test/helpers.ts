import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const fixtureMigrationsDir = fileURLToPath(new URL('./fixture/prisma/migrations/', import.meta.url));
export const fixtureSchemaPath = fileURLToPath(new URL('./fixture/prisma/schema.prisma', import.meta.url));

export const postgresUrl = process.env.TEST_DATABASE_URL || undefined;

/** PGlite always; PostgreSQL too when `TEST_DATABASE_URL` is set (`.ci/run` sets it). */
export const backends: { name: 'pglite' | 'postgres'; url: string | undefined }[] = [
  { name: 'pglite', url: '' },
  ...(postgresUrl === undefined ? [] : [{ name: 'postgres' as const, url: postgresUrl }]),
];

/** A writable copy of the fixture migrations, for tests that add or edit migration files. */
export async function copyFixtureMigrations(): Promise<{ dir: string; remove(): Promise<void> }> {
  const root = await mkdtemp(join(tmpdir(), 'aauth-db-test-'));
  const dir = join(root, 'migrations');
  await cp(fixtureMigrationsDir, dir, { recursive: true });
  return { dir, remove: () => rm(root, { recursive: true, force: true }) };
}
