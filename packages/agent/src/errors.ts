import {
  AAuthError,
  type AAuthErrorOptions,
  Abandoned,
  Denied,
  Expired,
  ExpiredAgentToken,
  ExpiredResourceToken,
  Forbidden,
  Gone,
  InteractionUnavailable,
  InvalidAccount,
  InvalidAgentToken,
  InvalidBudget,
  InvalidCode,
  InvalidPersonToken,
  InvalidRequest,
  InvalidResourceToken,
  InvalidScope,
  MissionNotFound,
  MissionTerminated,
  NotFound,
  parseSignatureError,
  ServerError,
  SignatureError,
  type SignatureErrorCode,
  SlowDown,
  TemporarilyUnavailable,
  UnknownPersonToken,
  UserUnreachable,
} from '@aauth-ref/core';

/**
 * Agent-side members of core's one error hierarchy (`AAuthError`): failures the agent detects itself
 * or a server reported with a code core has no class for. Server-reported codes core knows become
 * core's classes (`Denied`, `Expired`, `SignatureError`, …), so a caller matches one set of classes
 * whether the failure came from a PS, an AS or a resource.
 */
export class AgentError extends AAuthError {
  readonly status: number;
  readonly error: string;

  constructor(status: number, error: string, detail?: string, options: AAuthErrorOptions = {}) {
    super(detail, options);
    this.status = status;
    this.error = error;
  }
}

/**
 * §Requirement Values: "An agent that does not recognize the `requirement` value MUST NOT treat the
 * response as satisfiable. It surfaces the unsupported requirement to the caller as an error." Also
 * used for registered values this agent cannot satisfy (`claims` is for a PS, `interaction` without a
 * way to reach the user).
 */
export class UnsupportedRequirement extends AgentError {
  readonly requirement: string;
  constructor(status: number, requirement: string, detail?: string) {
    super(
      status,
      'unsupported_requirement',
      detail ?? `The agent cannot satisfy requirement=${requirement}.`,
    );
    this.requirement = requirement;
  }
}

/** §Auth Token Response Verification failed: the PS's answer is not used (`invalid_auth_token`). */
export class InvalidAuthToken extends AgentError {
  constructor(detail: string, options: AAuthErrorOptions = {}) {
    super(400, 'invalid_auth_token', detail, options);
  }
}

/** The agent (its clarification callback) withdrew a pending request (§Cancel Request). */
export class RequestCancelled extends AgentError {
  constructor(detail = 'The agent cancelled the pending request.') {
    super(410, 'cancelled', detail);
  }
}

/**
 * §Mission Approval verification failed on the agent's side (`s256` not the digest of the decoded
 * `mission` bytes, the blob names another agent or approver, a returned person token does not verify):
 * the mission is neither stored nor used.
 */
export class InvalidMissionApproval extends AgentError {
  constructor(detail: string, options: AAuthErrorOptions = {}) {
    super(400, 'invalid_mission_approval', detail, options);
  }
}

/** §Single-Level Depth, or a sub-agent name the agent cannot use. */
export class SubAgentRefused extends AgentError {
  constructor(detail: string) {
    super(400, 'subagent_refused', detail);
  }
}

/** No durable key or no agent token: `aauth enroll` first. */
export class NotEnrolled extends AgentError {
  constructor(detail = 'This agent is not enrolled with an Agent Provider.') {
    super(401, 'not_enrolled', detail);
  }
}

/** A server answered with an `error` code core has no class for (or with no code at all). */
export class RemoteError extends AgentError {}

/** The server's `error`/`detail` of a problem+json body, when there is one. */
export interface ProblemBody {
  readonly error?: string;
  readonly detail?: string;
  /** Other members (e.g. `mission_status`, `termination_reason` of §Mission Status Errors). */
  readonly extra?: Record<string, unknown>;
}

type KnownErrorClass = (new (
  detail?: string,
  options?: AAuthErrorOptions,
) => AAuthError) & {
  readonly code: string;
  readonly status: number;
};

const KNOWN: ReadonlyMap<string, KnownErrorClass> = new Map(
  (
    [
      InvalidRequest,
      InvalidAgentToken,
      ExpiredAgentToken,
      InvalidResourceToken,
      ExpiredResourceToken,
      UnknownPersonToken,
      UserUnreachable,
      ServerError,
      InvalidPersonToken,
      InvalidScope,
      InvalidAccount,
      Denied,
      Abandoned,
      Expired,
      InvalidCode,
      SlowDown,
      InteractionUnavailable,
      MissionNotFound,
      MissionTerminated,
      InvalidBudget,
      Gone,
      Forbidden,
      NotFound,
      TemporarilyUnavailable,
    ] as KnownErrorClass[]
  ).map((cls) => [cls.code, cls]),
);

function readProblem(body: unknown): ProblemBody {
  if (typeof body !== 'object' || body === null) return {};
  const {
    error,
    detail,
    type: _type,
    title: _title,
    status: _status,
    ...rest
  } = body as Record<string, unknown>;
  return {
    ...(typeof error === 'string' ? { error } : {}),
    ...(typeof detail === 'string' ? { detail } : {}),
    ...(Object.keys(rest).length > 0 ? { extra: rest } : {}),
  };
}

/**
 * The typed error for a failed response: `Signature-Error` first (its code, the body's `detail`),
 * then the body's `error` code as core's class when status and code agree, else `RemoteError`
 * carrying both as sent. Other members of the body (e.g. `mission_status` and `termination_reason`
 * of §Mission Status Errors) are kept in the error's `extra`.
 */
export function errorFromResponse(status: number, headers: Headers, body: unknown): AAuthError {
  const problem = readProblem(body);
  const sigHeader = headers.get('signature-error');
  if (sigHeader !== null) {
    let code: string | undefined;
    try {
      code = parseSignatureError(sigHeader)?.error;
    } catch {
      code = undefined;
    }
    if (code !== undefined) return new SignatureError(code as SignatureErrorCode, problem.detail);
  }
  const known = problem.error === undefined ? undefined : KNOWN.get(problem.error);
  if (known !== undefined && known.status === status) {
    return new known(problem.detail, problem.extra === undefined ? {} : { extra: problem.extra });
  }
  return new RemoteError(status, problem.error ?? `http_${status}`, problem.detail);
}
