/**
 * The agent's reading of R3 (draft-hardt-aauth-r3): operation access annotations it plans with
 * (§Operation Access Annotations) and the R3 claims of the auth tokens it holds (§Auth Token
 * Extensions), enough to tell a per-call grant from a class grant. The agent never reads an R3
 * document (§R3 Document Access Restriction); everything here comes from the vocabulary and from its
 * own tokens.
 */

import {
  parseR3Operations,
  R3_ANNOTATION,
  R3Error,
  type R3Operation,
  type R3Operations,
  r3OperationsInclude,
} from '@aauth-ref/core';

export type { R3Operation, R3Operations } from '@aauth-ref/core';
/** §MCP Vocabulary, §OpenAPI Vocabulary: the agent's public names for core's constants. */
export {
  R3_VOCABULARY_MCP as MCP_VOCABULARY,
  R3_VOCABULARY_OPENAPI as OPENAPI_VOCABULARY,
} from '@aauth-ref/core';

/** §Vocabulary Encodings, MCP row: the `_meta` keys of a Tool. */
export const MCP_ACCESS_MODE_META = R3_ANNOTATION.mcp.accessMode;
export const MCP_BUDGET_META = R3_ANNOTATION.mcp.budget;

/** §Access Mode Annotation: the values an annotation may carry (`session-token` MUST NOT appear). */
export type AccessMode = 'agent-token' | 'person-token' | 'auth-token' | 'per-call';

const ACCESS_MODES: ReadonlySet<string> = new Set(['agent-token', 'person-token', 'auth-token', 'per-call']);

/**
 * What one request invokes, as the caller knows it from the vocabulary: the operations and the access
 * mode each is annotated with. Given to `Agent.fetch`, it lets the agent recognise a per-call grant
 * (§Per-Call Proposals) and keep it out of the token cache.
 */
export interface R3Invocation {
  readonly vocabulary: string;
  readonly operations: readonly R3Operation[];
  /** The effective access mode of each operation (same order), when the caller knows it. */
  readonly accessModes?: readonly (AccessMode | undefined)[];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * An `r3_granted`/`r3_per_call` claim value of one of the agent's own tokens, when it is well formed
 * (§Auth Token Extensions); anything else reads as no grant rather than an error, because the agent
 * only uses it to decide whether to ask for more.
 */
export function readR3Operations(value: unknown): R3Operations | undefined {
  try {
    return parseR3Operations(value, { allowEmpty: true, member: 'r3_granted' });
  } catch (err) {
    if (err instanceof R3Error) return undefined;
    throw err;
  }
}

/** Whether a claim (`r3_granted`, `r3_per_call`) lists `op` of `vocabulary`. */
export function r3ClaimLists(claim: unknown, vocabulary: string, op: R3Operation): boolean {
  return r3OperationsInclude(readR3Operations(claim), vocabulary, op);
}

/** An access mode annotation value, or `undefined` for anything else (including `session-token`). */
export function readAccessMode(value: unknown): AccessMode | undefined {
  return typeof value === 'string' && ACCESS_MODES.has(value) ? (value as AccessMode) : undefined;
}

/**
 * The access mode an operation needs (§Applying Annotations, §Budget Annotation): its own annotation
 * replaces the resource's `access_mode`; a budget of `true` needs at least an auth token ("an agent
 * encountering that combination MUST treat the operation as `auth-token`"), and with no annotation
 * implies `auth-token` rather than the resource-wide mode.
 */
export function effectiveAccessMode(
  annotation: { accessMode?: unknown; budget?: unknown },
  resourceAccessMode?: unknown,
): AccessMode | undefined {
  const own = readAccessMode(annotation.accessMode);
  if (annotation.budget === true) {
    return own === 'auth-token' || own === 'per-call' ? own : 'auth-token';
  }
  return own ?? readAccessMode(resourceAccessMode);
}

/** The access mode annotation of an MCP Tool as `tools/list` publishes it (§Vocabulary Encodings). */
export function mcpToolAccessMode(tool: unknown, resourceAccessMode?: unknown): AccessMode | undefined {
  const meta = isRecord(tool) && isRecord(tool._meta) ? tool._meta : {};
  return effectiveAccessMode(
    { accessMode: meta[MCP_ACCESS_MODE_META], budget: meta[MCP_BUDGET_META] },
    resourceAccessMode,
  );
}

/**
 * What an auth token obtained while invoking `invocation` is (§Per-Call Proposals, *Single use*):
 * - `grant`: a grant to cache — no invocation is known, or the token lists an invoked operation in
 *   `r3_per_call` ("authorized in principle": the resource answers it with a proposal next);
 * - `per-call`: the credential presented when challenged listed the operation in `r3_per_call`, so
 *   the challenge was the proposal (§Resource Enforcement, step 2) — good for the one call;
 * - `per-call-annotated`: an invoked operation is annotated `per-call` (§Access Mode Annotation: "the
 *   grant that results is consumed by that one call"), though nothing on the wire says this challenge
 *   was the proposal rather than a class grant the issuer listed in `r3_granted`.
 */
export type GrantKind = 'grant' | 'per-call' | 'per-call-annotated';

export function classifyAuthToken(
  invocation: R3Invocation | undefined,
  presented: Record<string, unknown> | undefined,
  obtained: Record<string, unknown>,
): GrantKind {
  if (invocation === undefined) return 'grant';
  const { vocabulary, operations, accessModes } = invocation;
  if (operations.some((op) => r3ClaimLists(obtained.r3_per_call, vocabulary, op))) return 'grant';
  if (presented && operations.some((op) => r3ClaimLists(presented.r3_per_call, vocabulary, op))) {
    return 'per-call';
  }
  return accessModes?.includes('per-call') === true ? 'per-call-annotated' : 'grant';
}

/** Whether `classifyAuthToken` says the token is good for the one call only. */
export function isPerCallGrant(
  invocation: R3Invocation | undefined,
  presented: Record<string, unknown> | undefined,
  obtained: Record<string, unknown>,
): boolean {
  return classifyAuthToken(invocation, presented, obtained) !== 'grant';
}
