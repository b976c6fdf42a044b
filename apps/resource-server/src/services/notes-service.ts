import { type Clock, InvalidRequest } from '@aauth-ref/core';
import type { Note, NoteStore, PersonRef } from './ports.js';

/** The demo API itself: short notes per person `(iss, sub)` and notebook. */

export const MAX_NOTE_LENGTH = 2_000;
export const LIST_LIMIT = 100;

export interface NotesService {
  list(person: PersonRef, notebook: string): Promise<Note[]>;
  /** Throws `InvalidRequest` for a body that is not `{ "text": "…" }`. */
  create(person: PersonRef, notebook: string, body: unknown): Promise<Note>;
  count(person: PersonRef): Promise<number>;
}

export function createNotesService(deps: { readonly store: NoteStore; readonly clock: Clock }): NotesService {
  return {
    list: (person, notebook) => deps.store.list(person, notebook, LIST_LIMIT),
    async create(person, notebook, body) {
      const text =
        typeof body === 'object' && body !== null && !Array.isArray(body)
          ? (body as Record<string, unknown>).text
          : undefined;
      if (typeof text !== 'string' || text.trim().length === 0) {
        throw new InvalidRequest('text is required: a non-empty string.');
      }
      if (text.length > MAX_NOTE_LENGTH) {
        throw new InvalidRequest(`text is longer than ${MAX_NOTE_LENGTH} characters.`);
      }
      return deps.store.create(person, notebook, text, new Date(deps.clock.now()));
    },
    count: (person) => deps.store.count(person),
  };
}
