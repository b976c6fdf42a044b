import { randomUUID } from 'node:crypto';
import type { Queryable } from '@aauth-ref/db';
import type { Note, NoteStore } from '../services/ports.js';
import type { PrismaTx } from './prisma.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function toNote(row: { id: string; notebook: string; text: string; createdAt: Date }): Note {
  return { id: row.id, notebook: row.notebook, text: row.text, created_at: row.createdAt.toISOString() };
}

/**
 * The read every notes request makes (the resource hot path, docs/benchmarks.md): one plain statement,
 * served by the `(person_iss, person_sub, notebook, created_at)` index.
 */
const LIST_SQL = `SELECT "id"::text AS "id", "notebook", "text", "created_at"
  FROM "note"
  WHERE "person_iss" = $1 AND "person_sub" = $2 AND "notebook" = $3
  ORDER BY "created_at" DESC, "id" ASC
  LIMIT $4`;

type ListRow = { id: string; notebook: string; text: string; created_at: Date };

/**
 * Notes keyed by the person `(iss, sub)` — never `sub` alone. Works on the client or inside a
 * transaction (a held invocation runs in one). Outside a transaction, pass the database as `reader`:
 * `list` then goes straight to the driver (`pg` or PGlite) instead of through the Prisma client, which
 * cost 2–4× the driver's own CPU per call for this statement (docs/benchmarks.md, *Optimisations*).
 */
export function createPrismaNoteStore(prisma: PrismaTx, reader?: Queryable): NoteStore {
  return {
    async list(person, notebook, limit) {
      const params = [person.iss, person.sub, notebook, limit] as const;
      const rows = reader
        ? await reader.exec<ListRow>(LIST_SQL, params)
        : await prisma.$queryRawUnsafe<ListRow[]>(LIST_SQL, ...params);
      return rows.map((row) => toNote({ ...row, createdAt: row.created_at }));
    },
    async create(person, notebook, text, at) {
      const row = await prisma.note.create({
        data: {
          id: randomUUID(),
          personIss: person.iss,
          personSub: person.sub,
          notebook,
          text,
          createdAt: at,
        },
        select: { id: true, notebook: true, text: true, createdAt: true },
      });
      return toNote(row);
    },
    async count(person) {
      return prisma.note.count({ where: { personIss: person.iss, personSub: person.sub } });
    },
    async delete(person, notebook, id) {
      // A note id is a UUID; anything else names no note (and would make PostgreSQL refuse the query).
      if (!UUID.test(id)) return false;
      const { count } = await prisma.note.deleteMany({
        where: { id, personIss: person.iss, personSub: person.sub, notebook },
      });
      return count === 1;
    },
  };
}
