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
  },
  { additionalProperties: false },
);

const EffectSchema = Type.Union([Type.Literal('grant'), Type.Literal('omit'), Type.Literal('deny')]);
const FallbackSchema = Type.Union([Type.Literal('omit'), Type.Literal('deny')]);

const RuleSchema = Type.Object(
  {
    id: Type.Optional(Type.String({ maxLength: 200 })),
    scopes: Type.Array(Type.String({ minLength: 1, pattern: '^[!#-\\[\\]-~]+$' }), { minItems: 1 }),
    when: Type.Optional(ConditionsSchema),
    effect: EffectSchema,
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
}

export type PolicyDecision =
  /** `scope` is the granted subset of the requested scopes, in request order (absent: none requested). */
  | { readonly kind: 'grant'; readonly scope?: string }
  | { readonly kind: 'deny'; readonly reason: string }
  | { readonly kind: 'claims'; readonly required_claims: readonly string[] };

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
  if (!when.claims) return true;
  if (!input.claims) return { needs: Object.keys(when.claims) };
  return matchClaims(when.claims, input.claims);
}

type ScopeOutcome = RuleEffect | { readonly needs: readonly string[] };

function decideScope(policy: ResourcePolicy, scope: string | undefined, input: PolicyInput): ScopeOutcome {
  for (const rule of policy.rules) {
    if (!rule.scopes.includes('*') && (scope === undefined || !rule.scopes.includes(scope))) continue;
    const truth = evaluateConditions(rule.when, input);
    if (truth === false) continue;
    return truth === true ? rule.effect : truth;
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
  for (const scope of scopes) {
    const outcome = decideScope(policy, scope, input);
    if (outcome === 'deny') return { kind: 'deny', reason: 'The resource policy denies this request.' };
    if (outcome === 'grant') {
      if (scope !== undefined) granted.push(scope);
      else return { kind: 'grant' };
    } else if (outcome !== 'omit') {
      for (const name of outcome.needs) if (!needs.includes(name)) needs.push(name);
    }
  }
  if (needs.length > 0) return { kind: 'claims', required_claims: needs };
  if (granted.length === 0)
    return { kind: 'deny', reason: 'The resource policy grants none of the requested scopes.' };
  return { kind: 'grant', scope: granted.join(' ') };
}
