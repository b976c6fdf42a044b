import { defineConfig } from 'prisma/config';

/**
 * Prisma 7 reads the schema location from here. The server never uses Prisma's CLI at run time: it
 * applies `prisma/migrations` itself (`@aauth-ref/db` `applyMigrations`), so `DATABASE_URL` is only
 * needed by CLI commands that talk to a database (`prisma migrate deploy|status` on an operator's
 * machine).
 */
export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  ...(process.env.DATABASE_URL ? { datasource: { url: process.env.DATABASE_URL } } : {}),
});
