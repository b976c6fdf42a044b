import { computeR3S256, isR3DigestParameter, sameS256 } from './document.js';

/**
 * §Per-Call Proposals, Flow step 3: on a `401` retry the presented parameters must match the stored
 * proposal: inline values by JSON value equality (member order and whitespace do not matter),
 * digest parameters by `BASE64URL(SHA-256(presented-value))`.
 */

/** JSON value equality: objects by members regardless of order, arrays by position, numbers by value. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a === 'number' && typeof b === 'number') return a === b;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((item, i) => jsonEqual(item, b[i]));
  }
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null) {
    const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
    const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
    if (ka.length !== kb.length) return false;
    return ka.every(
      (k) =>
        Object.hasOwn(b, k) &&
        jsonEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]),
    );
  }
  return false;
}

export type R3ParameterMismatch =
  | { readonly kind: 'missing'; readonly name: string }
  | { readonly kind: 'unexpected'; readonly name: string }
  | { readonly kind: 'value'; readonly name: string }
  | { readonly kind: 'digest'; readonly name: string };

/**
 * The first way `presented` differs from the proposal's `stored` parameters, or `undefined` when the
 * call matches. A digest parameter must be presented as a string (its UTF-8 bytes are hashed) or as
 * bytes: "the agent MUST present those values byte-identically".
 */
export function findR3ParameterMismatch(
  stored: Readonly<Record<string, unknown>>,
  presented: Readonly<Record<string, unknown>>,
): R3ParameterMismatch | undefined {
  for (const [name, expected] of Object.entries(stored)) {
    if (expected === undefined) continue;
    if (!Object.hasOwn(presented, name) || presented[name] === undefined) return { kind: 'missing', name };
    const actual = presented[name];
    if (isR3DigestParameter(expected)) {
      if (!(typeof actual === 'string' || actual instanceof Uint8Array)) return { kind: 'digest', name };
      if (!sameS256(computeR3S256(actual), expected.s256)) return { kind: 'digest', name };
    } else if (!jsonEqual(expected, actual)) {
      return { kind: 'value', name };
    }
  }
  for (const name of Object.keys(presented)) {
    if (presented[name] !== undefined && !Object.hasOwn(stored, name)) return { kind: 'unexpected', name };
  }
  return undefined;
}

/** Whether the presented call matches the stored proposal parameters exactly. */
export function r3ParametersMatch(
  stored: Readonly<Record<string, unknown>>,
  presented: Readonly<Record<string, unknown>>,
): boolean {
  return findR3ParameterMismatch(stored, presented) === undefined;
}
