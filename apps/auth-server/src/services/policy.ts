import { type IdentifierPolicy, isServerIdentifier, type R3Operation } from '@aauth-ref/core';
import { type Static, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

/**
 * The declarative resource policy of this AS (§AS Decision Logic, §PS-AS Trust Establishment) and its
 * evaluation. Plain data in and out: the store loads documents, the token service asks for a decision.
 * The format is documented in the README (*Auth server*).
 *
 * Each requested scope is decided by the first rule that names it (or `*`) and whose conditions hold;
 * a scope no rule decides gets the resource's `fallback`. A `deny` anywhere refuses the whole request;
 * `omit` drops the scope, which is how a grant is narrowed; a rule whose `claims` condition needs
 * claims the PS has not supplied yet stops the evaluation with `requirement=claims`.
 *
 * A `grant` rule may also name steps that must be completed first (`require`: `payment`,
 * `interaction`, `approval`) and a question for the PS (`clarification`). A step already satisfied —
 * the PS has a billing relationship, the person has bound this PS, an administrator approved this
 * request, the question was answered as expected — is skipped, so later requests go straight
 * through. Pending steps are asked one at a time in a fixed order: payment (402), interaction,
 * claims, clarification, approval (README, *Auth server*: composed steps).
 */

const Scalar = Type.Union([Type.String(), Type.Number(), Type.Boolean()]);

/** A value condition: a scalar (equal), a list (one of), `{present}` or `{suffix}` (strings). */
const MatcherSchema = Type.Union([
  Scalar,
  Type.Array(Scalar, { minItems: 1 }),
  Type.Object({ present: Type.Boolean() }, { additionalProperties: false }),
  Type.Object({ suffix: Type.String({ minLength: 1 }) }, { additionalProperties: false }),
]);

const ClaimName = Type.String({ minLength: 1, maxLength: 128 });

const ConditionsSchema = Type.Object(
  {
    /** The requesting PS is one of these. */
    ps: Type.Optional(Type.Array(Type.String(), { minItems: 1 })),
    /** The requesting PS is (true) or is not (false) on the pre-established trust list. */
    ps_trusted: Type.Optional(Type.Boolean()),
    /** The resource token's `tenant`. */
    tenant: Type.Optional(MatcherSchema),
    /** Claims of the `agent_token` (the parent's, for a parent-mediated request). */
    agent: Type.Optional(Type.Record(ClaimName, MatcherSchema)),
    /** The request is (true) or is not (false) parent-mediated for a sub-agent. */
    subagent: Type.Optional(Type.Boolean()),
    /** Identity claims the PS supplies on request (§Claims Required). */
    claims: Type.Optional(Type.Record(ClaimName, MatcherSchema)),
    /** The person has (true) or has not (false) bound this PS at this AS (`requirement=interaction`). */
    bound: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

const EffectSchema = Type.Union([Type.Literal('grant'), Type.Literal('omit'), Type.Literal('deny')]);
const FallbackSchema = Type.Union([Type.Literal('omit'), Type.Literal('deny')]);

const StepSchema = Type.Union([
  Type.Literal('payment'),
  Type.Literal('interaction'),
  Type.Literal('approval'),
]);

/**
 * §Clarification Required: the question (Markdown), optional `options` and `timeout` (seconds). With
 * `expect` the answer must equal it (or one of a list) for the rule to apply; without it an
 * administrator reviews the answer (the request then also waits for `approval`).
 */
const ClarificationSchema = Type.Object(
  {
    question: Type.String({ minLength: 1, maxLength: 2000 }),
    options: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 200 }), { minItems: 1 })),
    timeout: Type.Optional(Type.Integer({ minimum: 10, maximum: 86_400 })),
    expect: Type.Optional(Type.Union([Type.String(), Type.Array(Type.String(), { minItems: 1 })])),
  },
  { additionalProperties: false },
);

const RuleSchema = Type.Object(
  {
    id: Type.Optional(Type.String({ maxLength: 200 })),
    scopes: Type.Array(Type.String({ minLength: 1, pattern: '^[!#-\\[\\]-~]+$' }), { minItems: 1 }),
    when: Type.Optional(ConditionsSchema),
    effect: EffectSchema,
    /** Steps to complete before a `grant` takes effect. */
    require: Type.Optional(Type.Array(StepSchema, { minItems: 1 })),
    clarification: Type.Optional(ClarificationSchema),
  },
  { additionalProperties: false },
);

/**
 * R3 §AS Processing step 5: what this AS does with each operation of the R3 document — `grant`
 * (`r3_granted`), `per-call` (`r3_per_call`: each call comes back as a per-call proposal), `omit`
 * (narrowed away) or `deny` (the whole request is refused). The first rule whose `vocabulary` (if
 * given) is the document's and whose `match` members all equal the operation's decides; else
 * `fallback` (default `omit`).
 */
const R3EffectSchema = Type.Union([
  Type.Literal('grant'),
  Type.Literal('per-call'),
  Type.Literal('omit'),
  Type.Literal('deny'),
]);

const R3RuleSchema = Type.Object(
  {
    vocabulary: Type.Optional(Type.String({ minLength: 1 })),
    /** Operation members to equal, e.g. `{"tool": "delete_note"}`; absent: every operation. */
    match: Type.Optional(Type.Record(Type.String({ minLength: 1 }), Type.String())),
    effect: R3EffectSchema,
  },
  { additionalProperties: false },
);

const R3PolicySchema = Type.Object(
  { fallback: Type.Optional(R3EffectSchema), operations: Type.Array(R3RuleSchema) },
  { additionalProperties: false },
);

const ResourcePolicySchema = Type.Object(
  {
    fallback: Type.Optional(FallbackSchema),
    rules: Type.Array(RuleSchema),
    r3: Type.Optional(R3PolicySchema),
  },
  { additionalProperties: false },
);

const PolicyDocumentSchema = Type.Object(
  {
    trusted_person_servers: Type.Optional(Type.Array(Type.String())),
    resources: Type.Record(Type.String(), ResourcePolicySchema),
  },
  { additionalProperties: false },
);

export type Matcher = Static<typeof MatcherSchema>;
export type PolicyConditions = Static<typeof ConditionsSchema>;
export type PolicyRule = Static<typeof RuleSchema>;
export type RuleEffect = Static<typeof EffectSchema>;
export type PolicyFallback = Static<typeof FallbackSchema>;
export type PolicyDocument = Static<typeof PolicyDocumentSchema>;
export type PolicyStep = Static<typeof StepSchema>;
export type PolicyClarification = Static<typeof ClarificationSchema>;
export type R3Policy = Static<typeof R3PolicySchema>;
export type R3Effect = Static<typeof R3EffectSchema>;

/** One resource's policy as stored. */
export interface ResourcePolicy {
  readonly resource: string;
  readonly fallback: PolicyFallback;
  readonly rules: readonly PolicyRule[];
  /**
   * Absent: this AS does not use R3 at the resource — an R3 request is decided by the scope rules
   * alone and issued without R3 claims (README *R3 operations*).
   */
  readonly r3?: R3Policy;
}

export class PolicyDocumentError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid policy document: ${problems.join('; ')}`);
    this.name = 'PolicyDocumentError';
  }
}

/** Validates a parsed policy document; throws `PolicyDocumentError` naming every problem. */
export function parsePolicyDocument(input: unknown, identifierPolicy: IdentifierPolicy): PolicyDocument {
  if (!Value.Check(PolicyDocumentSchema, input)) {
    const problems = [...Value.Errors(PolicyDocumentSchema, input)]
      .slice(0, 10)
      .map((e) => `${e.path || '/'}: ${e.message}`);
    throw new PolicyDocumentError(problems);
  }
  const problems: string[] = [];
  const notIdentifier = (value: string) => !isServerIdentifier(value, identifierPolicy);
  for (const ps of input.trusted_person_servers ?? []) {
    if (notIdentifier(ps))
      problems.push(`trusted_person_servers: ${JSON.stringify(ps)} is not a server identifier`);
  }
  for (const [resource, policy] of Object.entries(input.resources)) {
    if (notIdentifier(resource))
      problems.push(`resources: ${JSON.stringify(resource)} is not a server identifier`);
    policy.rules.forEach((rule, i) => {
      if ((rule.require || rule.clarification) && rule.effect !== 'grant')
        problems.push(
          `resources/${resource}/rules/${i}: require and clarification apply to grant rules only`,
        );
      for (const ps of rule.when?.ps ?? []) {
        if (notIdentifier(ps))
          problems.push(
            `resources/${resource}/rules/${i}/when/ps: ${JSON.stringify(ps)} is not a server identifier`,
          );
      }
    });
  }
  if (problems.length > 0) throw new PolicyDocumentError(problems);
  return input;
}

/** What the policy sees of a verified token request. */
export interface PolicyInput {
  readonly ps: string;
  readonly psTrusted: boolean;
  /** The resource token's `scope`; absent when it carried none (only `*` rules apply then). */
  readonly scope?: string;
  readonly tenant?: string;
  readonly agent: Readonly<Record<string, unknown>>;
  readonly subagent: boolean;
  /** Claims the PS supplied; absent until it was asked (§Claims Required). */
  readonly claims?: Readonly<Record<string, unknown>>;
  /** The PS has a billing relationship with this AS. */
  readonly billing?: boolean;
  /** The person (the resource token's `ps` and `sub`) has bound this PS here. */
  readonly bound?: boolean;
  /** An administrator approved this request. */
  readonly approved?: boolean;
  /** Clarification answers received, keyed by question. */
  readonly answers?: Readonly<Record<string, string>>;
  /** The verified R3 document's operations, when the resource token carries `r3_uri` (R3 §AS Processing). */
  readonly r3?: R3PolicyInput;
}

export interface R3PolicyInput {
  readonly vocabulary: string;
  readonly operations: readonly R3Operation[];
  /** A per-call proposal (§Per-Call Proposals): its one operation is granted for that call or denied. */
  readonly proposal: boolean;
}

/** R3 §Auth Token Extensions: the operations granted outright and those granted per call. */
export interface R3Grant {
  readonly granted: readonly R3Operation[];
  readonly perCall: readonly R3Operation[];
}

/** A question to put to the PS (§Clarification Required body members). */
export interface ClarificationQuestion {
  readonly clarification: string;
  readonly options?: readonly string[];
  readonly timeout?: number;
}

export type PolicyDecision =
  /**
   * `scope` is the granted subset of the requested scopes, in request order (absent: none requested);
   * `r3` the R3 grant when the request carried an R3 document and the resource has `r3` rules
   * (absent for an R3 request: issued without R3 claims).
   */
  | { readonly kind: 'grant'; readonly scope?: string; readonly r3?: R3Grant }
  | { readonly kind: 'deny'; readonly reason: string }
  | { readonly kind: 'claims'; readonly required_claims: readonly string[] }
  /** `402`: a billing relationship first. `interaction` tells whether binding will be asked too. */
  | { readonly kind: 'payment'; readonly interaction: boolean }
  | { readonly kind: 'interaction' }
  | ({ readonly kind: 'clarification' } & ClarificationQuestion)
  | { readonly kind: 'approval' };

type Truth = boolean | { readonly needs: readonly string[] };

function matchValue(matcher: Matcher, value: unknown): boolean {
  if (Array.isArray(matcher)) return matcher.some((m) => m === value);
  if (typeof matcher === 'object' && matcher !== null) {
    if ('present' in matcher) return (value !== undefined && value !== null) === matcher.present;
    return typeof value === 'string' && value.endsWith(matcher.suffix);
  }
  return matcher === value;
}

function matchClaims(
  matchers: Readonly<Record<string, Matcher>>,
  claims: Readonly<Record<string, unknown>>,
): boolean {
  return Object.entries(matchers).every(([name, matcher]) =>
    matchValue(matcher, Object.hasOwn(claims, name) ? claims[name] : undefined),
  );
}

/** Conditions without claims first: a rule that cannot apply never asks the PS for anything. */
function evaluateConditions(when: PolicyConditions | undefined, input: PolicyInput): Truth {
  if (!when) return true;
  if (when.ps && !when.ps.includes(input.ps)) return false;
  if (when.ps_trusted !== undefined && when.ps_trusted !== input.psTrusted) return false;
  if (when.tenant !== undefined && !matchValue(when.tenant, input.tenant)) return false;
  if (when.subagent !== undefined && when.subagent !== input.subagent) return false;
  if (when.agent && !matchClaims(when.agent, input.agent)) return false;
  if (when.bound !== undefined && when.bound !== (input.bound ?? false)) return false;
  if (!when.claims) return true;
  if (!input.claims) return { needs: Object.keys(when.claims) };
  return matchClaims(when.claims, input.claims);
}

interface Pending {
  readonly needs: readonly string[];
  readonly steps: readonly PolicyStep[];
  readonly question?: ClarificationQuestion;
}

type ScopeOutcome = RuleEffect | Pending;

function matchesExpected(expect: string | readonly string[], answer: string): boolean {
  const normalized = answer.trim().toLowerCase();
  const expected = typeof expect === 'string' ? [expect] : expect;
  return expected.some((value) => value.trim().toLowerCase() === normalized);
}

function decideScope(policy: ResourcePolicy, scope: string | undefined, input: PolicyInput): ScopeOutcome {
  for (const rule of policy.rules) {
    if (!rule.scopes.includes('*') && (scope === undefined || !rule.scopes.includes(scope))) continue;
    const truth = evaluateConditions(rule.when, input);
    if (truth === false) continue;
    const needs = truth === true ? [] : truth.needs;
    if (rule.effect !== 'grant' || (!rule.require && !rule.clarification)) {
      return needs.length === 0 ? rule.effect : { needs, steps: [] };
    }
    const require = rule.require ?? [];
    const steps: PolicyStep[] = [];
    if (require.includes('payment') && !input.billing) steps.push('payment');
    if (require.includes('interaction') && !input.bound) steps.push('interaction');
    let question: ClarificationQuestion | undefined;
    let review = false;
    if (rule.clarification) {
      const c = rule.clarification;
      const answer = input.answers?.[c.question];
      if (answer === undefined) {
        question = {
          clarification: c.question,
          ...(c.options ? { options: c.options } : {}),
          ...(c.timeout === undefined ? {} : { timeout: c.timeout }),
        };
      } else if (c.expect !== undefined) {
        // An answer other than the expected one: this rule does not apply (like a failed condition).
        if (!matchesExpected(c.expect, answer)) continue;
      } else {
        review = true;
      }
    }
    if ((require.includes('approval') || review) && !input.approved) steps.push('approval');
    if (steps.length === 0 && needs.length === 0 && !question) return 'grant';
    return { needs, steps, ...(question ? { question } : {}) };
  }
  return policy.fallback;
}

/** Requested scopes, deduplicated in request order. */
export function splitScope(scope: string | undefined): string[] {
  return [...new Set((scope ?? '').split(' ').filter((s) => s !== ''))];
}

function matchesR3Rule(rule: R3Policy['operations'][number], vocabulary: string, op: R3Operation): boolean {
  if (rule.vocabulary !== undefined && rule.vocabulary !== vocabulary) return false;
  return Object.entries(rule.match ?? {}).every(([name, value]) => op[name] === value);
}

/**
 * R3 §AS Processing step 5 and §Resource Enforcement ("The AS decides which operations to grant
 * outright and which to make per-call"): each operation by the first matching rule, else `fallback`.
 * A proposal's operation that the policy grants, outright or per call, is granted for that call
 * (§Per-Call Proposals step 2: "lists the now-approved operation in `r3_granted`").
 */
export function evaluateR3Policy(
  policy: R3Policy | undefined,
  input: R3PolicyInput,
): R3Grant | { readonly deny: string } {
  const granted: R3Operation[] = [];
  const perCall: R3Operation[] = [];
  for (const op of input.operations) {
    const rule = policy?.operations.find((r) => matchesR3Rule(r, input.vocabulary, op));
    const effect: R3Effect = rule?.effect ?? policy?.fallback ?? 'omit';
    if (effect === 'deny') return { deny: 'The resource policy denies an operation of this request.' };
    if (effect === 'grant' || (effect === 'per-call' && input.proposal)) granted.push(op);
    else if (effect === 'per-call') perCall.push(op);
  }
  if (granted.length === 0 && perCall.length === 0) {
    return { deny: 'The resource policy grants none of the requested operations.' };
  }
  return { granted, perCall };
}

/** Decides a token request for a resource with a policy (no policy: the resource is not served here). */
export function evaluatePolicy(policy: ResourcePolicy | undefined, input: PolicyInput): PolicyDecision {
  if (!policy) return { kind: 'deny', reason: 'This access server has no policy for the resource.' };
  // R3 and scope are enforced independently (R3 §Resource Token Extensions); an R3 request without
  // scope is decided by the `r3` rules alone, and by `*` scope rules (their conditions and steps) if any.
  let r3: R3Grant | undefined;
  if (input.r3 !== undefined && policy.r3 === undefined) {
    // No `r3` rules: the operator wrote a scope policy only, so the request is decided as if the
    // resource token carried no R3 claims (the token then has none either, and the resource enforces
    // its scope). Without scope there is nothing this policy could grant.
    if (splitScope(input.scope).length === 0) {
      return {
        kind: 'deny',
        reason: 'This access server has no R3 policy for the resource, and the request names no scope.',
      };
    }
  } else if (input.r3 !== undefined) {
    const outcome = evaluateR3Policy(policy.r3, input.r3);
    if ('deny' in outcome) return { kind: 'deny', reason: outcome.deny };
    r3 = outcome;
    if (splitScope(input.scope).length === 0 && !policy.rules.some((rule) => rule.scopes.includes('*'))) {
      return { kind: 'grant', r3 };
    }
  }
  const decision = evaluateScopes(policy, input);
  return decision.kind === 'grant' && r3 !== undefined ? { ...decision, r3 } : decision;
}

function evaluateScopes(policy: ResourcePolicy, input: PolicyInput): PolicyDecision {
  const requested = splitScope(input.scope);
  const scopes: (string | undefined)[] = requested.length === 0 ? [undefined] : requested;
  const granted: string[] = [];
  const needs: string[] = [];
  const steps = new Set<PolicyStep>();
  let question: ClarificationQuestion | undefined;
  let grantAll = false;
  for (const scope of scopes) {
    const outcome = decideScope(policy, scope, input);
    if (outcome === 'deny') return { kind: 'deny', reason: 'The resource policy denies this request.' };
    if (outcome === 'grant') {
      if (scope !== undefined) granted.push(scope);
      else grantAll = true;
    } else if (outcome !== 'omit') {
      for (const name of outcome.needs) if (!needs.includes(name)) needs.push(name);
      for (const step of outcome.steps) steps.add(step);
      question ??= outcome.question;
    }
  }
  // One step at a time, in a fixed order (README, *Auth server*: composed steps).
  if (steps.has('payment')) return { kind: 'payment', interaction: steps.has('interaction') };
  if (steps.has('interaction')) return { kind: 'interaction' };
  if (needs.length > 0) return { kind: 'claims', required_claims: needs };
  if (question) return { kind: 'clarification', ...question };
  if (steps.has('approval')) return { kind: 'approval' };
  if (grantAll) return { kind: 'grant' };
  if (granted.length === 0)
    return { kind: 'deny', reason: 'The resource policy grants none of the requested scopes.' };
  return { kind: 'grant', scope: granted.join(' ') };
}
