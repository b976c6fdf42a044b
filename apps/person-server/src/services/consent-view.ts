import { DWK, type IssuerKeyResolver } from '@aauth-ref/core';
import type { AuthTokenPlan } from './auth-token-service.js';
import type { ClarificationState, PendingRecord } from './pending-service.js';
import type { PersonTokenPlan } from './person-token-service.js';
import {
  describeR3Operation,
  describeR3Parameters,
  type R3ParameterView,
  type R3Plan,
} from './r3-consent.js';

/**
 * What the consent page shows about a pending `/person` or `/token` request (§Person Token Endpoint:
 * the resource's `name`, `description` and `access_mode`; §Scopes: each scope's description from the
 * resource's `scope_descriptions`; §Agent Token Request: `justification`, `platform`, `device`; the
 * agent's `name` and `description` from its Agent Provider metadata). Every text here is untrusted
 * (§Untrusted Input): Markdown members stay raw and are sanitized when rendered, plain members are
 * escaped by the page templates. A metadata document that cannot be fetched leaves only the
 * identifier, so the page still renders.
 */

export type MetadataSource = Pick<IssuerKeyResolver, 'metadata'>;

export interface ConsentAgent {
  /** The agent identifier (`sub` of its agent token). */
  readonly id: string;
  /** The Agent Provider (`iss` of the agent token). */
  readonly provider: string;
  readonly name?: string;
  /** Markdown. */
  readonly description?: string;
  readonly detailsAvailable: boolean;
}

export interface ConsentResource {
  readonly id: string;
  readonly name?: string;
  /** Markdown. */
  readonly description?: string;
  readonly accessMode?: string;
  readonly detailsAvailable: boolean;
}

export interface ConsentScope {
  readonly value: string;
  /** Markdown, from the resource's `scope_descriptions` or this PS's identity scopes. */
  readonly description?: string;
}

/** R3: what the resource's document says the access means (§R3 Document `display`), in its words. */
export interface ConsentR3 {
  readonly uri: string;
  readonly s256: string;
  /** A per-call proposal (§Per-Call Proposals): one concrete call, approved or denied. */
  readonly proposal: boolean;
  /** Plain text, escaped by the page. */
  readonly summary?: string;
  readonly implications?: string;
  readonly dataAccessed?: string;
  readonly irreversible?: string;
  /** Markdown (a proposal's `detail`); sanitized when rendered. */
  readonly detail?: string;
  /** Each operation in words, in document order (the form's choices follow this order). */
  readonly operations: readonly string[];
  readonly parameters?: readonly R3ParameterView[];
}

export interface ConsentView {
  readonly kind: 'person_token' | 'auth_token';
  readonly agent: ConsentAgent;
  readonly resource: ConsentResource;
  /** Auth token requests only: the scope the resource token carries. */
  readonly scopes?: readonly ConsentScope[];
  /** Auth token requests with R3 claims: the verified document's display and operations. */
  readonly r3?: ConsentR3;
  /** Markdown. */
  readonly justification?: string;
  readonly platform?: string;
  readonly device?: string;
  /** Whether the request declared the `clarification` capability. */
  readonly clarificationAllowed: boolean;
  readonly clarification: ClarificationState;
}

/** The PS's own descriptions of the identity scopes it supports (§Scopes; OpenID Connect Core §5.4). */
export const IDENTITY_SCOPE_DESCRIPTIONS: Readonly<Record<string, string>> = {
  openid: 'Know that it is you (a stable identifier for you at this resource)',
  profile: 'Your name',
  email: 'Your email address',
  tenant: 'The organization you belong to',
};

/** Bounds on what a remote document may make the page show. */
const MAX_NAME_LENGTH = 200;
const MAX_DESCRIPTION_LENGTH = 4000;

/** The stored request of a pending `/person` or `/token` request. */
export interface StoredTokenRequest {
  readonly plan: PersonTokenPlan | AuthTokenPlan;
  readonly capabilities?: readonly string[];
}

export function storedTokenRequestOf(record: PendingRecord): StoredTokenRequest {
  return record.request as StoredTokenRequest;
}

function shortString(value: unknown, max: number): string | undefined {
  if (typeof value !== 'string') return undefined;
  const trimmed = value.trim();
  if (trimmed === '') return undefined;
  return trimmed.length > max ? `${trimmed.slice(0, max)}…` : trimmed;
}

async function fetchMetadata(
  source: MetadataSource,
  iss: string,
  dwk: string,
): Promise<Record<string, unknown> | undefined> {
  try {
    return await source.metadata(iss, dwk);
  } catch {
    // Discovery failures are expected here (offline, refused by egress): the page says so instead.
    return undefined;
  }
}

function scopeDescriptionsOf(metadata: Record<string, unknown> | undefined): Record<string, unknown> {
  const value = metadata?.scope_descriptions;
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

/** The consent page's content for a pending token request; never throws on remote failures. */
export async function describeConsent(source: MetadataSource, record: PendingRecord): Promise<ConsentView> {
  const stored = storedTokenRequestOf(record);
  const plan = stored.plan;
  const auth = record.kind === 'auth_token' ? (plan as AuthTokenPlan) : undefined;
  const [agentMeta, resourceMeta] = await Promise.all([
    fetchMetadata(source, plan.agent.iss, DWK.agent),
    fetchMetadata(source, plan.resource, DWK.resource),
  ]);
  const agent: ConsentAgent = {
    id: plan.agent.sub,
    provider: plan.agent.iss,
    detailsAvailable: agentMeta !== undefined,
    ...optional('name', shortString(agentMeta?.name, MAX_NAME_LENGTH)),
    ...optional('description', shortString(agentMeta?.description, MAX_DESCRIPTION_LENGTH)),
  };
  const resource: ConsentResource = {
    id: plan.resource,
    detailsAvailable: resourceMeta !== undefined,
    ...optional('name', shortString(resourceMeta?.name, MAX_NAME_LENGTH)),
    ...optional('description', shortString(resourceMeta?.description, MAX_DESCRIPTION_LENGTH)),
    ...optional('accessMode', shortString(resourceMeta?.access_mode, MAX_NAME_LENGTH)),
  };
  let scopes: ConsentScope[] | undefined;
  if (auth !== undefined) {
    const described = scopeDescriptionsOf(resourceMeta);
    scopes = (auth.scope ?? '')
      .split(' ')
      .filter((value) => value !== '')
      .map((value) => {
        const own = Object.hasOwn(described, value) ? described[value] : undefined;
        const text =
          shortString(own, MAX_DESCRIPTION_LENGTH) ??
          (Object.hasOwn(IDENTITY_SCOPE_DESCRIPTIONS, value)
            ? IDENTITY_SCOPE_DESCRIPTIONS[value]
            : undefined);
        return text === undefined ? { value } : { value, description: text };
      });
  }
  const context = auth?.context;
  return {
    kind: record.kind === 'auth_token' ? 'auth_token' : 'person_token',
    agent,
    resource,
    ...(scopes === undefined ? {} : { scopes }),
    ...(auth?.r3 === undefined ? {} : { r3: describeR3(auth.r3) }),
    ...optional('justification', context?.justification),
    ...optional('platform', context?.platform),
    ...optional('device', context?.device),
    clarificationAllowed: stored.capabilities?.includes('clarification') === true,
    clarification: record.clarification ?? { turns: [] },
  };
}

function optional<K extends string>(key: K, value: string | undefined): { [P in K]?: string } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: string };
}

/** The R3 document as the person reads it (three-party consent and four-party pages alike). */
export function describeR3(plan: R3Plan): ConsentR3 {
  const display = plan.display;
  return {
    uri: plan.r3_uri,
    s256: plan.r3_s256,
    proposal: plan.proposal,
    ...optional('summary', shortString(display?.summary, MAX_DESCRIPTION_LENGTH)),
    ...optional('implications', shortString(display?.implications, MAX_DESCRIPTION_LENGTH)),
    ...optional('dataAccessed', shortString(display?.data_accessed, MAX_DESCRIPTION_LENGTH)),
    ...optional('irreversible', shortString(display?.irreversible, MAX_DESCRIPTION_LENGTH)),
    ...optional('detail', shortString(display?.detail, MAX_DESCRIPTION_LENGTH)),
    operations: plan.operations.map((op) => describeR3Operation(plan.vocabulary, op)),
    ...(plan.parameters === undefined ? {} : { parameters: describeR3Parameters(plan.parameters) }),
  };
}
