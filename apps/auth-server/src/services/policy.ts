import { type IdentifierPolicy, isServerIdentifier } from '@aauth-ref/core';
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

const ResourcePolicySchema = Type.Object(
  { fallback: Type.Optional(FallbackSchema), rules: Type.Array(RuleSchema) },
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

/** One resource's policy as stored. */
export interface ResourcePolicy {
  readonly resource: string;
  readonly fallback: PolicyFallback;
  readonly rules: readonly PolicyRule[];
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
}

/** A question to put to the PS (§Clarification Required body members). */
export interface ClarificationQuestion {
  readonly clarification: string;
  readonly options?: readonly string[];
  readonly timeout?: number;
}

export type PolicyDecision =
  /** `scope` is the granted subset of the requested scopes, in request order (absent: none requested). */
  | { readonly kind: 'grant'; readonly scope?: string }
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

/** Decides a token request for a resource with a policy (no policy: the resource is not served here). */
export function evaluatePolicy(policy: ResourcePolicy | undefined, input: PolicyInput): PolicyDecision {
  if (!policy) return { kind: 'deny', reason: 'This access server has no policy for the resource.' };
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
