import type { R3Operation } from './types.js';

/** Standard vocabulary URIs (§Standard Vocabularies, §R3 Vocabulary Registry). */
export const R3_VOCABULARY = {
  mcp: 'urn:aauth:vocabulary:mcp',
  openapi: 'urn:aauth:vocabulary:openapi',
  grpc: 'urn:aauth:vocabulary:grpc',
  graphql: 'urn:aauth:vocabulary:graphql',
  asyncapi: 'urn:aauth:vocabulary:asyncapi',
  wsdl: 'urn:aauth:vocabulary:wsdl',
  odata: 'urn:aauth:vocabulary:odata',
} as const;

export const R3_VOCABULARY_MCP = R3_VOCABULARY.mcp;
export const R3_VOCABULARY_OPENAPI = R3_VOCABULARY.openapi;

/** The `access_mode` value R3 registers (§Resource Metadata Extensions). */
export const ACCESS_MODE_PER_CALL = 'per-call';

/** §Vocabulary Encodings: where each vocabulary carries the two annotations. */
export const R3_ANNOTATION = {
  mcp: { accessMode: 'aauth.dev/access-mode', budget: 'aauth.dev/budget' },
  openapi: { accessMode: 'x-aauth-access-mode', budget: 'x-aauth-budget' },
  asyncapi: { accessMode: 'x-aauth-access-mode', budget: 'x-aauth-budget' },
  odata: { accessMode: 'AAuth.AccessMode', budget: 'AAuth.Budget' },
} as const;

/**
 * The members that identify an operation, per vocabulary: REQUIRED string members first, then the
 * OPTIONAL ones that still distinguish operations (AsyncAPI `action`, WSDL `service`). OData
 * `methods` is an array and is compared as part of the identity too.
 */
interface VocabularyShape {
  readonly required: readonly string[];
  readonly optional: readonly string[];
}

const SHAPES: Readonly<Record<string, VocabularyShape>> = {
  [R3_VOCABULARY.mcp]: { required: ['tool'], optional: [] },
  [R3_VOCABULARY.openapi]: { required: ['operationId'], optional: [] },
  [R3_VOCABULARY.grpc]: { required: ['method'], optional: [] },
  [R3_VOCABULARY.graphql]: { required: ['operation', 'type'], optional: [] },
  [R3_VOCABULARY.asyncapi]: { required: ['operationId'], optional: ['action'] },
  [R3_VOCABULARY.wsdl]: { required: ['operation'], optional: ['service'] },
  [R3_VOCABULARY.odata]: { required: ['operation'], optional: [] },
};

const GRAPHQL_TYPES = new Set(['query', 'mutation', 'subscription']);
const ASYNCAPI_ACTIONS = new Set(['send', 'receive']);

/** Whether `vocabulary` is one of the seven this document standardizes. */
export function isStandardR3Vocabulary(vocabulary: string): boolean {
  return Object.hasOwn(SHAPES, vocabulary);
}

/**
 * Why `op` is not a well-formed entry of `vocabulary`, or `undefined` when it is. Third-party
 * vocabularies are only required to be JSON objects (their shape is theirs to define).
 */
export function r3OperationProblem(vocabulary: string, op: unknown): string | undefined {
  if (typeof op !== 'object' || op === null || Array.isArray(op)) return 'an operation is not a JSON object';
  const entry = op as Record<string, unknown>;
  const shape = SHAPES[vocabulary];
  if (shape === undefined) return undefined;
  for (const name of shape.required) {
    if (typeof entry[name] !== 'string' || (entry[name] as string).length === 0) {
      return `an operation lacks the ${name} member ${vocabulary} requires`;
    }
  }
  for (const name of shape.optional) {
    if (entry[name] !== undefined && typeof entry[name] !== 'string')
      return `operation ${name} is not a string`;
  }
  if (vocabulary === R3_VOCABULARY.graphql && !GRAPHQL_TYPES.has(entry.type as string)) {
    return 'graphql operation type is not query, mutation or subscription';
  }
  if (
    vocabulary === R3_VOCABULARY.asyncapi &&
    entry.action !== undefined &&
    !ASYNCAPI_ACTIONS.has(entry.action as string)
  ) {
    return 'asyncapi operation action is not send or receive';
  }
  if (vocabulary === R3_VOCABULARY.odata && entry.methods !== undefined) {
    if (!Array.isArray(entry.methods) || !entry.methods.every((m) => typeof m === 'string')) {
      return 'odata operation methods is not an array of strings';
    }
  }
  return undefined;
}

/**
 * A string that identifies `op` within `vocabulary` (§Operation Identifier Scope: bare identifiers
 * resolve against the one definition). MCP: the tool name; OpenAPI: the `operationId`. Two entries
 * name the same operation exactly when their keys are equal. Assumes a well-formed entry.
 */
export function r3OperationKey(vocabulary: string, op: R3Operation): string {
  const shape = SHAPES[vocabulary];
  if (vocabulary === R3_VOCABULARY.mcp) return op.tool as string;
  if (vocabulary === R3_VOCABULARY.openapi) return op.operationId as string;
  if (shape === undefined) return canonicalJson(op);
  const parts: unknown[] = [...shape.required, ...shape.optional].map((name) => op[name] ?? null);
  if (vocabulary === R3_VOCABULARY.odata) {
    parts.push(
      Array.isArray(op.methods) ? [...(op.methods as string[])].map((m) => m.toUpperCase()).sort() : null,
    );
  }
  return JSON.stringify(parts);
}

/** The MCP operation entry for a tool (§MCP Vocabulary). */
export function mcpOperation(tool: string): R3McpOperationEntry {
  return { tool };
}

/** The OpenAPI operation entry for an `operationId` (§OpenAPI Vocabulary). */
export function openApiOperation(operationId: string): R3OpenApiOperationEntry {
  return { operationId };
}

type R3McpOperationEntry = { readonly tool: string };
type R3OpenApiOperationEntry = { readonly operationId: string };

/** A deterministic serialization (sorted members) used only as an identity key, never as wire bytes. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.keys(value)
      .sort()
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
