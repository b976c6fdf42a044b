import {
  R3_ANNOTATION,
  R3_VOCABULARY_MCP,
  R3_VOCABULARY_OPENAPI,
  type R3Display,
  type R3Operation,
  r3OperationKey,
} from '@aauth-ref/core';
import { NOTES_READ, NOTES_WRITE } from '../scopes.js';
import { MAX_NOTE_LENGTH } from './notes-service.js';

/**
 * The demo's operations in both R3 vocabularies it advertises (R3 §MCP Vocabulary, §OpenAPI
 * Vocabulary): one entry per operation, so the MCP tool and the REST route for the same data share
 * scopes, display text and whether each call needs its own approval. This is the authoritative
 * definition `r3_operations` is validated against (R3 §Operation Validation).
 */

export type AccessModeAnnotation = 'agent-token' | 'person-token' | 'auth-token' | 'per-call';

export interface DemoOperation {
  readonly tool: 'list_notes' | 'create_note' | 'delete_note';
  readonly operationId: 'listNotes' | 'createNote' | 'deleteNote';
  readonly method: 'GET' | 'POST' | 'DELETE';
  /** OpenAPI path template. */
  readonly path: string;
  readonly scopes: readonly string[];
  /** The published access mode annotation (R3 §Access Mode Annotation). */
  readonly accessMode: AccessModeAnnotation;
  /** Every invocation is challenged with a per-call proposal (R3 §Per-Call Proposals). */
  readonly perCall: boolean;
  /** What granting this operation means (R3 §R3 Document `display`), in the resource's words. */
  readonly display: Required<Pick<R3Display, 'summary'>> & Omit<R3Display, 'summary' | 'detail'>;
}

export const DEMO_OPERATIONS: readonly DemoOperation[] = [
  {
    tool: 'list_notes',
    operationId: 'listNotes',
    method: 'GET',
    path: '/api/notes',
    scopes: [NOTES_READ],
    accessMode: 'auth-token',
    perCall: false,
    display: {
      summary: 'Read the notes in your notebook',
      data_accessed: 'The text and creation time of every note in the notebook',
    },
  },
  {
    tool: 'create_note',
    operationId: 'createNote',
    method: 'POST',
    path: '/api/notes',
    scopes: [NOTES_WRITE],
    accessMode: 'auth-token',
    perCall: false,
    display: {
      summary: 'Add notes to your notebook',
      implications: 'New notes appear in the notebook.',
    },
  },
  {
    tool: 'delete_note',
    operationId: 'deleteNote',
    method: 'DELETE',
    path: '/api/notes/{id}',
    scopes: [NOTES_WRITE],
    accessMode: 'per-call',
    perCall: true,
    display: {
      summary: 'Delete notes from your notebook, each one approved by you',
      irreversible: 'A deleted note cannot be recovered.',
    },
  },
];

/** The vocabularies this resource speaks; `r3_vocabularies` maps them to these paths. */
export const R3_VOCABULARY_PATHS: Readonly<Record<string, string>> = {
  [R3_VOCABULARY_MCP]: '/mcp',
  [R3_VOCABULARY_OPENAPI]: '/openapi.json',
};

const BY_KEY: ReadonlyMap<string, DemoOperation> = new Map(
  DEMO_OPERATIONS.flatMap((op) => [
    [`${R3_VOCABULARY_MCP} ${op.tool}`, op] as const,
    [`${R3_VOCABULARY_OPENAPI} ${op.operationId}`, op] as const,
  ]),
);

/** The demo operation an entry of `vocabulary` names, if this resource defines it. */
export function findDemoOperation(vocabulary: string, entry: R3Operation): DemoOperation | undefined {
  if (vocabulary !== R3_VOCABULARY_MCP && vocabulary !== R3_VOCABULARY_OPENAPI) return undefined;
  return BY_KEY.get(`${vocabulary} ${r3OperationKey(vocabulary, entry)}`);
}

/** The entry naming `op` in `vocabulary` (R3 §MCP Vocabulary `{tool}`, §OpenAPI Vocabulary `{operationId}`). */
export function operationEntry(vocabulary: string, op: DemoOperation): R3Operation {
  return vocabulary === R3_VOCABULARY_MCP ? { tool: op.tool } : { operationId: op.operationId };
}

export function demoOperationByTool(tool: string): DemoOperation | undefined {
  return DEMO_OPERATIONS.find((op) => op.tool === tool);
}

export function demoOperationById(operationId: DemoOperation['operationId']): DemoOperation {
  return DEMO_OPERATIONS.find((op) => op.operationId === operationId)!;
}

/**
 * The OpenAPI 3.1 description of the REST notes API (R3 §OpenAPI Vocabulary: its discovery endpoint),
 * each operation annotated per R3 §Vocabulary Encodings (`x-aauth-access-mode`). Built once; served
 * as is.
 */
export function buildOpenApiDocument(issuer: string): Record<string, unknown> {
  const annotation = R3_ANNOTATION.openapi.accessMode;
  const note = {
    type: 'object',
    required: ['id', 'notebook', 'text', 'created_at'],
    properties: {
      id: { type: 'string', format: 'uuid' },
      notebook: { type: 'string', enum: ['personal', 'work'] },
      text: { type: 'string' },
      created_at: { type: 'string', format: 'date-time' },
    },
  };
  const problem = { description: 'application/problem+json with `error`' };
  const challenge = { description: 'AAuth-Requirement challenge (agent, person or auth token needed)' };
  const list = demoOperationById('listNotes');
  const create = demoOperationById('createNote');
  const del = demoOperationById('deleteNote');
  return {
    openapi: '3.1.0',
    info: {
      title: 'AAuth Reference Notes',
      version: '1.0.0',
      description:
        'Short notes in two notebooks per person. Every request is an AAuth-signed request; see `/.well-known/aauth-resource.json`.',
    },
    servers: [{ url: issuer }],
    paths: {
      '/api/notes': {
        get: {
          operationId: list.operationId,
          summary: 'List the notes of the notebook the auth token is bound to',
          [annotation]: list.accessMode,
          responses: {
            '200': {
              description: 'The notes, newest first',
              content: {
                'application/json': {
                  schema: {
                    type: 'object',
                    properties: { notebook: { type: 'string' }, notes: { type: 'array', items: note } },
                  },
                },
              },
            },
            '401': challenge,
          },
        },
        post: {
          operationId: create.operationId,
          summary: 'Add a note',
          [annotation]: create.accessMode,
          requestBody: {
            required: true,
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  required: ['text'],
                  additionalProperties: false,
                  properties: { text: { type: 'string', minLength: 1, maxLength: MAX_NOTE_LENGTH } },
                },
              },
            },
          },
          responses: {
            '201': {
              description: 'The note',
              content: {
                'application/json': { schema: { type: 'object', properties: { note } } },
              },
            },
            '400': problem,
            '401': challenge,
          },
        },
      },
      '/api/notes/{id}': {
        delete: {
          operationId: del.operationId,
          summary: 'Delete one note; each call is approved on its own (a per-call proposal)',
          [annotation]: del.accessMode,
          parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
          responses: {
            '200': {
              description: 'Deleted',
              content: {
                'application/json': {
                  schema: { type: 'object', properties: { deleted: { type: 'string' } } },
                },
              },
            },
            '202': { description: 'Held until a per-call auth token arrives at the pending URL' },
            '401': challenge,
            '403': problem,
            '404': problem,
          },
        },
      },
    },
  };
}
