import {
  type Capability,
  decodeJwtUnverified,
  isCapability,
  jwkThumbprint,
  MissionTerminated,
  type PersonTokenClaims,
  TOKEN_TYP,
  type TokenVerifier,
  verifyMissionApproval,
} from '@aauth-ref/core';
import { InvalidMissionApproval } from './errors.js';
import type { Mission, MissionTool } from './store.js';

/** What the agent asks for (§Mission Creation). */
export interface MissionProposal {
  /** Markdown. */
  readonly description: string;
  readonly tools?: readonly MissionTool[];
  /** Server identifiers of the resources the agent expects to access. */
  readonly resources?: readonly string[];
  /** Sent as the proposal's `capabilities` member; default: the agent's own capabilities. */
  readonly capabilities?: readonly Capability[];
}

/** What a person token returned by the PS must be (§Person Token Structure), checked by the agent. */
export interface PersonTokenExpectation {
  /** The PS the agent asked: the token's `iss`. */
  readonly ps: string;
  /** The resource it was asked for: the token's `aud`. */
  readonly resource: string;
  /** Thumbprint of the key it must bind (`cnf.jwk`): the signer's, or the sub-agent's. */
  readonly jkt: string;
  /** The mission it was asked under: its `mission_s256` must be exactly this (absent: none). */
  readonly missionS256?: string;
  readonly verifier?: TokenVerifier;
}

export class PersonTokenMismatch extends Error {}

/**
 * Checks a person token the PS returned before it is cached or presented: `typ`, `iss` = the PS,
 * `aud` = the resource, `cnf.jwk` = the expected key, `mission_s256` = the mission asked for, and
 * (with a verifier) the signature against the PS's JWKS and `exp`. Throws `PersonTokenMismatch`
 * naming the check; callers map it to their error.
 */
export async function checkPersonToken(
  token: string,
  expected: PersonTokenExpectation,
): Promise<PersonTokenClaims> {
  let header: Record<string, unknown>;
  let payload: Record<string, unknown>;
  try {
    ({ header, payload } = decodeJwtUnverified(token));
  } catch {
    throw new PersonTokenMismatch('The person token is not a JWT.');
  }
  if (header.typ !== TOKEN_TYP.person)
    throw new PersonTokenMismatch('The person token typ is not aa-person+jwt.');
  if (payload.iss !== expected.ps) throw new PersonTokenMismatch('The person token iss is not the PS.');
  if (payload.aud !== expected.resource)
    throw new PersonTokenMismatch('The person token aud is not the resource asked for.');
  const cnf = (payload.cnf as { jwk?: unknown } | undefined)?.jwk;
  let jkt: string | undefined;
  try {
    jkt = cnf === undefined ? undefined : jwkThumbprint(cnf as Parameters<typeof jwkThumbprint>[0]);
  } catch {
    jkt = undefined;
  }
  if (jkt !== expected.jkt)
    throw new PersonTokenMismatch('The person token cnf.jwk is not the expected key.');
  if (payload.mission_s256 !== expected.missionS256) {
    throw new PersonTokenMismatch('The person token mission_s256 is not the mission asked for.');
  }
  if (expected.verifier) {
    try {
      const verified = await expected.verifier.verify(token, {
        kinds: ['person'],
        audience: expected.resource,
      });
      return verified.claims;
    } catch {
      throw new PersonTokenMismatch('The person token signature did not verify.');
    }
  }
  return payload as unknown as PersonTokenClaims;
}

/** What the approval must match (§Mission Approval). */
export interface ApprovalExpectation {
  /** This PS: the blob's `approver`. */
  readonly ps: string;
  /** This agent's identifier: the blob's `agent`. */
  readonly agent: string;
  /** Thumbprint of the signing key: the returned person tokens' `cnf`. */
  readonly jkt: string;
  /** The resources the proposal named: the only keys `person_tokens` may have. */
  readonly resources: readonly string[];
  readonly verifier?: TokenVerifier;
}

function optionalString(blob: Record<string, unknown>, name: string): string | undefined {
  const value = blob[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string')
    throw new InvalidMissionApproval(`The mission blob ${name} is not a string.`);
  return value;
}

function requiredString(blob: Record<string, unknown>, name: string): string {
  const value = optionalString(blob, name);
  if (value === undefined) throw new InvalidMissionApproval(`The mission blob has no ${name}.`);
  return value;
}

function readTools(value: unknown): MissionTool[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value))
    throw new InvalidMissionApproval('The mission blob approved_tools is not an array.');
  return value.map((tool) => {
    const { name, description } = (tool ?? {}) as Record<string, unknown>;
    if (typeof name !== 'string' || typeof description !== 'string') {
      throw new InvalidMissionApproval('An approved tool has no name and description.');
    }
    return { name, description };
  });
}

function readResources(value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || !value.every((r) => typeof r === 'string')) {
    throw new InvalidMissionApproval('The mission blob approved_resources is not an array of strings.');
  }
  return value as string[];
}

/**
 * §Mission Approval, the agent's side, before first use of the mission: `s256` is the SHA-256 of
 * the bytes `mission` decodes to (core's `verifyMissionApproval`), the blob carries the members it
 * MUST (`approver` = this PS, `agent` = this agent, `approved_at`, `description`), `capabilities`
 * keeps only registered values (unrecognized ones are ignored, §AAuth-Capabilities), and each
 * returned person token is for a resource the proposal named, binds this agent's key and carries
 * `mission_s256` = `s256`. Returns the mission and the verified person tokens; throws
 * `InvalidMissionApproval`.
 */
export async function verifyApproval(
  body: unknown,
  expected: ApprovalExpectation,
): Promise<{ mission: Mission; personTokens: Map<string, { token: string; claims: PersonTokenClaims }> }> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new InvalidMissionApproval('The mission approval is not a JSON object.');
  }
  const record = body as Record<string, unknown>;
  let verified: ReturnType<typeof verifyMissionApproval>;
  try {
    verified = verifyMissionApproval({ s256: record.s256, mission: record.mission });
  } catch (cause) {
    throw new InvalidMissionApproval(`The mission approval does not verify: ${(cause as Error).message}.`, {
      cause,
    });
  }
  const { blob, s256 } = verified;
  if (requiredString(blob, 'approver') !== expected.ps) {
    throw new InvalidMissionApproval('The mission blob approver is not this Person Server.');
  }
  if (requiredString(blob, 'agent') !== expected.agent) {
    throw new InvalidMissionApproval('The mission blob agent is not this agent.');
  }
  const approvedAt = requiredString(blob, 'approved_at');
  const description = requiredString(blob, 'description');
  const expiresAt = optionalString(blob, 'expires_at');
  const tools = readTools(blob.approved_tools);
  const resources = readResources(blob.approved_resources);
  const capabilities = Array.isArray(record.capabilities)
    ? [...new Set(record.capabilities.filter(isCapability))]
    : [];

  const personTokens = new Map<string, { token: string; claims: PersonTokenClaims }>();
  const returned = record.person_tokens;
  if (returned !== undefined) {
    if (typeof returned !== 'object' || returned === null || Array.isArray(returned)) {
      throw new InvalidMissionApproval('person_tokens is not an object.');
    }
    for (const [resource, token] of Object.entries(returned)) {
      if (!expected.resources.includes(resource)) {
        throw new InvalidMissionApproval(
          `A person token was returned for ${resource}, which was not proposed.`,
        );
      }
      if (typeof token !== 'string') throw new InvalidMissionApproval('A person token is not a string.');
      try {
        const claims = await checkPersonToken(token, {
          ps: expected.ps,
          resource,
          jkt: expected.jkt,
          missionS256: s256,
          ...(expected.verifier ? { verifier: expected.verifier } : {}),
        });
        personTokens.set(resource, { token, claims });
      } catch (cause) {
        throw new InvalidMissionApproval(`The person token for ${resource}: ${(cause as Error).message}`, {
          cause,
        });
      }
    }
  }

  const mission: Mission = {
    s256,
    mission: record.mission as string,
    approver: expected.ps,
    agent: expected.agent,
    approved_at: approvedAt,
    ...(expiresAt === undefined ? {} : { expires_at: expiresAt }),
    description,
    ...(tools === undefined ? {} : { approved_tools: tools }),
    ...(resources === undefined ? {} : { approved_resources: resources }),
    capabilities,
    person_token_resources: [...personTokens.keys()],
    status: 'active',
    updates: [],
  };
  return { mission, personTokens };
}

/** `mission_status` / `termination_reason` of a §Mission Status Errors answer. */
export function terminationOf(err: MissionTerminated): {
  mission_status: string;
  termination_reason?: string;
} {
  const reason = err.extra.termination_reason;
  return {
    mission_status: typeof err.extra.mission_status === 'string' ? err.extra.mission_status : 'terminated',
    ...(typeof reason === 'string' ? { termination_reason: reason } : {}),
  };
}

/** The error for acting on a mission the agent already knows has ended ("MUST stop acting on this mission"). */
export function terminatedError(mission: Mission): MissionTerminated {
  return new MissionTerminated('The mission has ended; propose a new one.', {
    extra: {
      mission_status: 'terminated',
      ...(mission.termination_reason === undefined ? {} : { termination_reason: mission.termination_reason }),
    },
  });
}
