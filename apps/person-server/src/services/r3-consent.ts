import {
  type AuthTokenClaims,
  canonicalJson,
  type FetchedR3Document,
  isR3DigestParameter,
  isR3Proposal,
  R3_VOCABULARY,
  type R3Display,
  type R3Operation,
  type R3Operations,
} from '@aauth-ref/core';
import type { RememberedR3Decision, ScopeConsentRecord } from './ports.js';

/**
 * This PS as the three-party issuer of R3 auth tokens (draft-hardt-aauth-r3 §R3 Processing, §Auth
 * Token Extensions, §Per-Call Proposals). The PS's policy (docs/spec-decisions.md):
 *
 * - A class document: the person decides each operation — allowed (`r3_granted`), allowed but asked
 *   again on each call (`r3_per_call`), or not allowed (left out: the grant is narrowed). Every
 *   operation starts as allowed; nothing is granted without the person's decision on this document.
 * - A per-call proposal: the person approves or denies that one call; on approval the operation goes
 *   into `r3_granted` of a token that echoes the proposal's `r3_uri`/`r3_s256` (§Per-Call Proposals
 *   step 2). Such a consent is never remembered: the next proposal asks again.
 * - A class-document decision is remembered with the scope consent, by `r3_s256`: a later request
 *   naming the same document is issued at once when every one of its operations was allowed
 *   (granted or per call) — an operation the person did not allow is asked about again, so a
 *   refusal is never turned silently into a narrowed token.
 */

/** What the consent page and issuance need of the verified document (plain JSON, kept in the plan). */
export interface R3Plan {
  readonly r3_uri: string;
  readonly r3_s256: string;
  readonly vocabulary: string;
  readonly operations: readonly R3Operation[];
  readonly display?: R3Display;
  /** A per-call proposal's parameters (inline values or digest objects). */
  readonly parameters?: Readonly<Record<string, unknown>>;
  readonly proposal: boolean;
}

/** The person's answer for one operation, in document order. */
export type R3Choice = 'grant' | 'per_call' | 'deny';

export const R3_CHOICES: readonly R3Choice[] = ['grant', 'per_call', 'deny'];

export interface R3Decision {
  readonly granted: readonly R3Operation[];
  readonly perCall: readonly R3Operation[];
}

export function planR3(fetched: FetchedR3Document): R3Plan {
  const { document } = fetched;
  const proposal = isR3Proposal(document);
  return {
    r3_uri: fetched.r3_uri,
    r3_s256: fetched.r3_s256,
    vocabulary: document.vocabulary,
    operations: document.operations,
    ...(document.display === undefined ? {} : { display: document.display }),
    ...(proposal && document.parameters !== undefined ? { parameters: document.parameters } : {}),
    proposal,
  };
}

/** Where the page starts: every operation allowed (a proposal: its one call). */
export function defaultR3Choices(plan: R3Plan): R3Choice[] {
  return plan.operations.map(() => 'grant');
}

/**
 * The grant the person's choices make. A proposal cannot be turned into a standing per-call grant:
 * its operation is granted for that call or not at all. Throws `TypeError` on choices that do not
 * fit the document (a programming error of the caller: the route validates the form).
 */
export function decideR3(plan: R3Plan, choices: readonly R3Choice[]): R3Decision {
  if (choices.length !== plan.operations.length) throw new TypeError('one choice per R3 operation');
  const granted: R3Operation[] = [];
  const perCall: R3Operation[] = [];
  plan.operations.forEach((op, i) => {
    const choice = choices[i];
    if (choice === 'grant') granted.push(op);
    else if (choice === 'per_call') {
      if (plan.proposal) throw new TypeError('a per-call proposal is approved or denied');
      perCall.push(op);
    }
  });
  return { granted, perCall };
}

/** Whether the choices allow nothing at all (the route then treats the answer as a denial). */
export function allowsNothing(choices: readonly R3Choice[]): boolean {
  return choices.every((choice) => choice === 'deny');
}

/** §Auth Token Extensions: `r3_uri`, `r3_s256`, `r3_granted` always; `r3_per_call` when not empty. */
export function r3TokenClaims(
  plan: R3Plan,
  decision: R3Decision,
): Pick<AuthTokenClaims, 'r3_uri' | 'r3_s256' | 'r3_granted' | 'r3_per_call'> {
  const operations = (list: readonly R3Operation[]): R3Operations => ({
    vocabulary: plan.vocabulary,
    operations: [...list],
  });
  return {
    r3_uri: plan.r3_uri,
    r3_s256: plan.r3_s256,
    r3_granted: operations(decision.granted),
    ...(decision.perCall.length === 0 ? {} : { r3_per_call: operations(decision.perCall) }),
  };
}

function stringMember(op: R3Operation, name: string): string | undefined {
  const value = op[name];
  return typeof value === 'string' ? value : undefined;
}

/**
 * One operation in words for the person (plain text, escaped by the page): the vocabularies' own
 * identifiers with what kind of thing they name; an unknown vocabulary shows the entry as JSON.
 */
export function describeR3Operation(vocabulary: string, op: R3Operation): string {
  switch (vocabulary) {
    case R3_VOCABULARY.mcp:
      return `Use the tool “${stringMember(op, 'tool') ?? '?'}”`;
    case R3_VOCABULARY.openapi:
      return `Call the API operation “${stringMember(op, 'operationId') ?? '?'}”`;
    case R3_VOCABULARY.grpc:
      return `Call the method “${stringMember(op, 'method') ?? '?'}”`;
    case R3_VOCABULARY.graphql:
      return `Run the ${stringMember(op, 'type') ?? 'operation'} “${stringMember(op, 'operation') ?? '?'}”`;
    case R3_VOCABULARY.asyncapi: {
      const action = stringMember(op, 'action');
      const id = stringMember(op, 'operationId') ?? '?';
      return action === 'receive' ? `Receive the events “${id}”` : `Use the event operation “${id}”`;
    }
    default:
      return JSON.stringify(op);
  }
}

/** A parameter of a per-call proposal as the page shows it (plain text). */
export interface R3ParameterView {
  readonly name: string;
  readonly value: string;
  /** The value stays between the agent and the resource; only its digest is in the proposal. */
  readonly digest: boolean;
}

const MAX_PARAMETER_TEXT = 500;

function clip(text: string): string {
  return text.length > MAX_PARAMETER_TEXT ? `${text.slice(0, MAX_PARAMETER_TEXT)}…` : text;
}

export function describeR3Parameters(parameters: Readonly<Record<string, unknown>>): R3ParameterView[] {
  return Object.entries(parameters).map(([name, value]) => {
    if (isR3DigestParameter(value)) {
      return { name, value: clip(value.excerpt ?? `(digest ${value.s256})`), digest: true };
    }
    return { name, value: clip(typeof value === 'string' ? value : JSON.stringify(value)), digest: false };
  });
}

/** What a class-document decision leaves in the consent store (a proposal leaves nothing). */
export function rememberR3(plan: R3Plan, decision: R3Decision): RememberedR3Decision | undefined {
  if (plan.proposal) return undefined;
  return { r3S256: plan.r3_s256, granted: decision.granted, perCall: decision.perCall };
}

/**
 * The decision earlier consents already give on this document, narrowed to its operations; absent
 * when the person must be asked: a proposal, no consent for this `r3_s256` that applies (standing or
 * under this mission), or an operation of the document none of them allowed.
 */
export function rememberedR3Decision(
  plan: R3Plan,
  consents: readonly ScopeConsentRecord[],
  missionS256: string | undefined,
): R3Decision | undefined {
  if (plan.proposal) return undefined;
  const applicable = consents.filter(
    (c) =>
      c.r3 !== undefined &&
      c.r3.r3S256 === plan.r3_s256 &&
      (c.missionS256 === null || c.missionS256 === missionS256),
  );
  if (applicable.length === 0) return undefined;
  const granted = new Set(applicable.flatMap((c) => c.r3?.granted ?? []).map(canonicalJson));
  const perCall = new Set(applicable.flatMap((c) => c.r3?.perCall ?? []).map(canonicalJson));
  const decision: { granted: R3Operation[]; perCall: R3Operation[] } = { granted: [], perCall: [] };
  for (const op of plan.operations) {
    const key = canonicalJson(op);
    // Where two decisions differ, the stricter one holds: asked before each call.
    if (perCall.has(key)) decision.perCall.push(op);
    else if (granted.has(key)) decision.granted.push(op);
    else return undefined;
  }
  return decision;
}
