import { randomUUID } from 'node:crypto';
import type { Note, NoteStore } from '../services/ports.js';
import type { PrismaClient } from './prisma.js';

function toNote(row: { id: string; notebook: string; text: string; createdAt: Date }): Note {
  return { id: row.id, notebook: row.notebook, text: row.text, created_at: row.createdAt.toISOString() };
}

/** Notes keyed by the person `(iss, sub)` — never `sub` alone. */
export function createPrismaNoteStore(prisma: PrismaClient): NoteStore {
  return {
    async list(person, notebook, limit) {
      const rows = await prisma.note.findMany({
        where: { personIss: person.iss, personSub: person.sub, notebook },
        orderBy: [{ createdAt: 'desc' }, { id: 'asc' }],
        take: limit,
        select: { id: true, notebook: true, text: true, createdAt: true },
      });
      return rows.map(toNote);
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
  };
}
