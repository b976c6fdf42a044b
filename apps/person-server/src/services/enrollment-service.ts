import { randomBytes } from 'node:crypto';
import {
  type AgentTokenClaims,
  agentDomainOf,
  type Clock,
  checkPublicJwk,
  Forbidden,
  formatAgentIdentifier,
  type IdentifierPolicy,
  InvalidRequest,
  type IssuableClaims,
  isServerIdentifier,
  issueToken,
  jwkThumbprint,
  KeyCheckError,
  type PublicJwk,
  parseAgentIdentifier,
  type TokenSigner,
  UnknownKey,
} from '@aauth-ref/core';
import type { CreatedPending, PendingRecord, PendingService } from './pending-service.js';

/**
 * The Agent Provider role for the demo agent (bootstrap draft, *Web App Enrollment*, *Two-Key
 * Refresh*): a durable key is enrolled by a signed-in person (hwk), then trades `jkt-jwt`
 * delegations to fresh ephemeral keys for agent tokens. Sub-agent tokens go to enrolled agents
 * (§Sub-Agents, §Single-Level Depth).
 */

export interface EnrollmentRecord {
  readonly id: string;
  readonly durableJkt: string;
  readonly agentSub: string;
  readonly ps: string;
  readonly status: 'approved' | 'revoked';
  readonly personId: string | null;
  readonly name: string | null;
  readonly platform: string | null;
  readonly device: string | null;
  readonly createdAt: Date;
}

export interface ApproveEnrollmentInput {
  readonly pendingId: string;
  readonly personId: string;
  readonly issuer: string;
  readonly durableJkt: string;
  readonly durableJwk: PublicJwk;
  /** Used when the durable key has no enrollment yet. */
  readonly agentSub: string;
  readonly ps: string;
  readonly name: string | null;
  readonly platform: string | null;
  readonly device: string | null;
  readonly at: Date;
}

export type ApproveEnrollmentOutcome =
  | { readonly kind: 'approved'; readonly agentSub: string }
  | { readonly kind: 'bound_to_other' }
  | { readonly kind: 'not_open' };

export interface IssuedAgentTokenRecord {
  readonly jti: string;
  readonly sub: string;
  readonly cnfJkt: string;
  readonly parentAgent: string | null;
  readonly issuedAt: Date;
  readonly expiresAt: Date;
}

export interface EnrollmentStore {
  findByDurableJkt(durableJkt: string): Promise<EnrollmentRecord | undefined>;
  findByAgentSub(agentSub: string): Promise<EnrollmentRecord | undefined>;
  listForPerson(personId: string): Promise<EnrollmentRecord[]>;
  /** Atomically: the enrollment (or the existing one of this person), the agent-person binding, the pending approval. */
  approve(input: ApproveEnrollmentInput): Promise<ApproveEnrollmentOutcome>;
  recordAgentToken(record: IssuedAgentTokenRecord): Promise<void>;
  recordSubAgent(enrollmentId: string, sub: string, parentAgent: string): Promise<void>;
}

/** What the agent sends to the enrollment endpoint (all optional; display values only). */
export interface EnrollmentRequestBody {
  readonly name?: string;
  readonly platform?: string;
  readonly device?: string;
  readonly ps?: string;
}

/** What the pending enrollment keeps until a person decides. */
export interface PendingEnrollment {
  readonly durableJwk: PublicJwk;
  readonly name: string | null;
  readonly platform: string | null;
  readonly device: string | null;
  readonly ps: string;
}

export type EnrollmentRequestOutcome =
  | { readonly kind: 'approved'; readonly agent: string }
  | { readonly kind: 'pending'; readonly created: CreatedPending };

export interface AgentTokenResponse {
  readonly agent_token: string;
  readonly expires_in: number;
}

export interface EnrollmentServiceDeps {
  readonly issuer: string;
  readonly clock: Clock;
  readonly identifierPolicy: IdentifierPolicy;
  readonly store: EnrollmentStore;
  readonly pending: PendingService;
  /** The AP's active key (never the PS's). */
  readonly signer: () => TokenSigner;
  readonly agentTokenTtlSeconds: number;
}

export interface EnrollmentService {
  requestEnrollment(
    durable: { thumbprint: string; jwk: PublicJwk },
    body: unknown,
  ): Promise<EnrollmentRequestOutcome>;
  /** The pending enrollment's details, for the approval page. */
  describe(record: PendingRecord): PendingEnrollment;
  /** Whether the durable key of this pending enrollment already belongs to another person. */
  isBoundToOther(record: PendingRecord, personId: string): Promise<boolean>;
  approve(record: PendingRecord, personId: string): Promise<ApproveEnrollmentOutcome>;
  issueAgentToken(durableThumbprint: string, ephemeralJwk: PublicJwk): Promise<AgentTokenResponse>;
  issueSubagentToken(parent: AgentTokenClaims, body: unknown): Promise<AgentTokenResponse>;
}

const DISPLAY_MAX = 100;
const LOWER_BASE32 = '0123456789abcdefghjkmnpqrstvwxyz';
const DISCRIMINATOR = /^[a-z0-9._-]{1,64}$/;

/** 130 random bits as 26 lowercase Crockford symbols: a valid, unlinkable agent `local` part. */
export function generateAgentLocal(): string {
  const bytes = randomBytes(26);
  let out = '';
  for (const byte of bytes) out += LOWER_BASE32[byte & 31];
  return out;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalDisplay(body: Record<string, unknown>, name: string): string | null {
  const value = body[name];
  if (value === undefined || value === null) return null;
  // Display values are untrusted input: bounded, single-line, escaped when rendered.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point.
  if (typeof value !== 'string' || value.length > DISPLAY_MAX || /[\u0000-\u001f\u007f]/.test(value)) {
    throw new InvalidRequest(`${name} must be a string of at most ${DISPLAY_MAX} printable characters.`);
  }
  return value.trim() === '' ? null : value.trim();
}

export function createEnrollmentService(deps: EnrollmentServiceDeps): EnrollmentService {
  const { issuer, clock, store, pending } = deps;
  const domain = agentDomainOf(issuer);

  async function issue(claims: IssuableClaims<'agent'>, notAfter?: number): Promise<AgentTokenResponse> {
    const token = issueToken('agent', claims, deps.signer(), {
      clock,
      lifetimeSeconds: deps.agentTokenTtlSeconds,
      notAfter: [notAfter],
    });
    const payload = JSON.parse(
      Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8'),
    ) as AgentTokenClaims;
    await store.recordAgentToken({
      jti: payload.jti,
      sub: payload.sub,
      cnfJkt: jwkThumbprint(payload.cnf.jwk),
      parentAgent: payload.parent_agent ?? null,
      issuedAt: new Date(payload.iat * 1000),
      expiresAt: new Date(payload.exp * 1000),
    });
    return { agent_token: token, expires_in: payload.exp - payload.iat };
  }

  return {
    async requestEnrollment(durable, body) {
      if (body !== undefined && body !== null && !isRecord(body)) {
        throw new InvalidRequest('The body must be a JSON object.');
      }
      const fields = (body ?? {}) as Record<string, unknown>;
      const ps = fields.ps === undefined ? issuer : fields.ps;
      if (!isServerIdentifier(ps, deps.identifierPolicy)) {
        throw new InvalidRequest('ps must be a Person Server identifier.');
      }
      const details: PendingEnrollment = {
        durableJwk: durable.jwk,
        name: optionalDisplay(fields, 'name'),
        platform: optionalDisplay(fields, 'platform'),
        device: optionalDisplay(fields, 'device'),
        ps,
      };
      const existing = await store.findByDurableJkt(durable.thumbprint);
      if (existing?.status === 'approved') return { kind: 'approved', agent: existing.agentSub };
      if (existing) throw new Forbidden('This key was enrolled and has been revoked; enroll a new key.');
      const created = await pending.create({
        kind: 'enrollment',
        owner: { agentIss: null, agentSub: null, durableJkt: durable.thumbprint },
        request: details,
        interaction: true,
      });
      return { kind: 'pending', created };
    },

    describe(record) {
      return record.request as PendingEnrollment;
    },

    async isBoundToOther(record, personId) {
      const existing = record.owner.durableJkt
        ? await store.findByDurableJkt(record.owner.durableJkt)
        : undefined;
      return existing !== undefined && existing.personId !== personId;
    },

    approve(record, personId) {
      const details = record.request as PendingEnrollment;
      return store.approve({
        pendingId: record.id,
        personId,
        issuer,
        durableJkt: record.owner.durableJkt!,
        durableJwk: details.durableJwk,
        agentSub: formatAgentIdentifier(generateAgentLocal(), domain, deps.identifierPolicy),
        ps: details.ps,
        name: details.name,
        platform: details.platform,
        device: details.device,
        at: new Date(clock.now()),
      });
    },

    async issueAgentToken(durableThumbprint, ephemeralJwk) {
      const enrollment = await store.findByDurableJkt(durableThumbprint);
      // An unenrolled, pending or revoked durable key is not a key this AP knows (Signature-Key §5).
      if (enrollment?.status !== 'approved') throw new UnknownKey('The durable key is not enrolled here.');
      return issue({ iss: issuer, sub: enrollment.agentSub, ps: enrollment.ps, cnf: { jwk: ephemeralJwk } });
    },

    async issueSubagentToken(parent, body) {
      if (parent.iss !== issuer)
        throw new Forbidden('Only agents of this Agent Provider obtain sub-agent tokens here.');
      // §Single-Level Depth: "An agent provider MUST NOT issue a sub-agent token whose parent is itself a sub-agent."
      if (parent.parent_agent !== undefined) throw new Forbidden('A sub-agent cannot have sub-agents.');
      const enrollment = await store.findByAgentSub(parent.sub);
      if (enrollment?.status !== 'approved') throw new Forbidden('The parent agent is not enrolled here.');
      if (!isRecord(body)) throw new InvalidRequest('The body must be a JSON object with jwk.');
      let jwk: PublicJwk;
      try {
        jwk = checkPublicJwk(body.jwk);
      } catch (err) {
        if (err instanceof KeyCheckError)
          throw new InvalidRequest('jwk is not an acceptable public key.', { cause: err });
        throw err;
      }
      const discriminator = body.discriminator ?? generateAgentLocal().slice(0, 10);
      if (typeof discriminator !== 'string' || !DISCRIMINATOR.test(discriminator)) {
        throw new InvalidRequest('discriminator must be 1-64 of a-z 0-9 . _ - (no +).');
      }
      const parentId = parseAgentIdentifier(parent.sub, deps.identifierPolicy)!;
      const sub = formatAgentIdentifier(`${parentId.local}+${discriminator}`, domain, deps.identifierPolicy);
      await store.recordSubAgent(enrollment.id, sub, parent.sub);
      return issue(
        { iss: issuer, sub, ps: enrollment.ps, parent_agent: parent.sub, cnf: { jwk } },
        // A sub-agent never outlives the parent token it was obtained with.
        parent.exp,
      );
    },
  };
}
