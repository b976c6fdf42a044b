import { createHash } from 'node:crypto';
import type { HeldInvocation, InvocationResult } from './pending-service.js';
import type { NoteStore, PersonRef } from './ports.js';

/**
 * The state-changing calls this resource can hold for §Deferred Delivery, and how each runs. A held
 * call runs exactly as it would have run at once, against whatever store it is given (a transaction
 * when it completes a pending request).
 */

export function sha256Base64url(bytes: Uint8Array | undefined): string {
  return createHash('sha256')
    .update(bytes ?? new Uint8Array())
    .digest('base64url');
}

/** `DELETE /api/notes/:id` for `person` in `notebook`: `200 {deleted}` or `404 not_found`. */
export async function runNoteDeletion(
  notes: NoteStore,
  person: PersonRef,
  notebook: string,
  noteId: string,
): Promise<InvocationResult> {
  if (await notes.delete(person, notebook, noteId)) return { status: 200, body: { deleted: noteId } };
  return { status: 404, body: { error: 'not_found', detail: 'This notebook holds no such note.' } };
}

/** Runs a held invocation. */
export function runHeldInvocation(
  notes: NoteStore,
  invocation: HeldInvocation,
  notebook: string,
): Promise<InvocationResult> {
  switch (invocation.action.kind) {
    case 'delete_note':
      return runNoteDeletion(notes, invocation.person, notebook, invocation.action.note_id);
  }
}

/** Claims of a resource token this resource has just issued (no verification: it signed it itself). */
export function readIssuedResourceToken(jwt: string): {
  ps: string;
  sub: string;
  presented_jti: string;
  agent_jkt: string;
  exp: number;
  r3_uri?: string;
  r3_s256?: string;
} {
  return JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8'));
}
