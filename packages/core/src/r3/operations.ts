import type { R3Operation, R3Operations } from './types.js';
import { r3OperationKey } from './vocabulary.js';

/**
 * Operation identity and grant matching (§Operation Identifier Scope, §Resource Enforcement,
 * §Grant Enforcement). Entries are compared by their vocabulary identity (`r3OperationKey`), so a
 * grant of `{tool: "create_note"}` matches that tool and no other.
 */

/** Whether `grant` (same vocabulary) contains `op`. A grant in another vocabulary contains nothing. */
export function r3OperationsInclude(
  grant: R3Operations | undefined,
  vocabulary: string,
  op: R3Operation,
): boolean {
  if (grant === undefined || grant.vocabulary !== vocabulary) return false;
  const key = r3OperationKey(vocabulary, op);
  return grant.operations.some((entry) => r3OperationKey(vocabulary, entry) === key);
}

/**
 * The entries of `requested` that `known` (the authoritative list of operation identity keys, or a
 * predicate) does not define: §Operation Validation, "validate declared operations against its
 * authoritative definition … before issuing a resource token".
 */
export function findUnknownR3Operations(
  requested: R3Operations,
  known: ReadonlySet<string> | ((op: R3Operation) => boolean),
): R3Operation[] {
  const isKnown =
    typeof known === 'function'
      ? known
      : (op: R3Operation) => known.has(r3OperationKey(requested.vocabulary, op));
  return requested.operations.filter((op) => !isKnown(op));
}

/**
 * The union of operation lists in one vocabulary, first occurrence kept, order preserved
 * (§Operations Spanning Multiple Definitions: `operations` is the union of the requested operations).
 */
export function unionR3Operations(
  vocabulary: string,
  ...lists: readonly (readonly R3Operation[])[]
): R3Operation[] {
  const seen = new Set<string>();
  const out: R3Operation[] = [];
  for (const list of lists) {
    for (const op of list) {
      const key = r3OperationKey(vocabulary, op);
      if (!seen.has(key)) {
        seen.add(key);
        out.push(op);
      }
    }
  }
  return out;
}

/** §Resource Enforcement: what the auth token's R3 claims say about one incoming call. */
export type R3EnforcementDecision = 'granted' | 'per_call' | 'none';

/**
 * Steps 1–3 of §Resource Enforcement: a match in `r3_granted` is served, a match in `r3_per_call`
 * is challenged with a per-call proposal, anything else is rejected (§Grant Enforcement). A match
 * in both is `granted` (step 1 comes first).
 */
export function decideR3Enforcement(
  claims: { r3_granted?: R3Operations; r3_per_call?: R3Operations },
  vocabulary: string,
  op: R3Operation,
): R3EnforcementDecision {
  if (r3OperationsInclude(claims.r3_granted, vocabulary, op)) return 'granted';
  if (r3OperationsInclude(claims.r3_per_call, vocabulary, op)) return 'per_call';
  return 'none';
}
