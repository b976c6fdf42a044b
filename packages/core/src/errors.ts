/**
 * The one error hierarchy of the project (CONVENTIONS.md, *Errors*).
 *
 * `AAuthError` carries what a client may see (status, wire `error` code, client-safe `detail`,
 * extra headers) and what only the logs may see (`cause`). One class per spec error code, named as
 * the PascalCase of the code. Signature failures are their own family (`SignatureError`): always
 * 401 with `Signature-Error`, rendered with `type` = `urn:ietf:params:sig-error:<code>`.
 */

export interface ProblemDetails {
  type?: string;
  title?: string;
  status: number;
  error: string;
  detail?: string;
  [member: string]: unknown;
}

export interface AAuthErrorOptions {
  /** Internal cause, logged, never sent. */
  cause?: unknown;
  /** Extra response headers (e.g. `Retry-After`). */
  headers?: Record<string, string>;
  /** Extra problem+json members (client-safe). */
  extra?: Record<string, unknown>;
}

export abstract class AAuthError extends Error {
  abstract readonly status: number;
  abstract readonly error: string;
  readonly detail: string | undefined;
  readonly headers: Record<string, string>;
  readonly extra: Record<string, unknown>;

  constructor(detail?: string, options: AAuthErrorOptions = {}) {
    super(detail ?? new.target.name, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.detail = detail;
    this.headers = { ...options.headers };
    this.extra = { ...options.extra };
  }

  /** The `application/problem+json` body (RFC 9457 with the AAuth `error` member). */
  toProblem(): ProblemDetails {
    const problem: ProblemDetails = { ...this.extra, status: this.status, error: this.error };
    if (this.detail !== undefined) problem.detail = this.detail;
    return problem;
  }
}

function defineError<S extends number, C extends string>(status: S, code: C) {
  return class extends AAuthError {
    static readonly code: C = code;
    static readonly status: S = status;
    readonly status: S = status;
    readonly error: C = code;
  };
}

// --- Token endpoint error codes (§Token Endpoint Error Codes) --------------------------------------
export class InvalidRequest extends defineError(400, 'invalid_request') {}
export class InvalidAgentToken extends defineError(400, 'invalid_agent_token') {}
export class ExpiredAgentToken extends defineError(400, 'expired_agent_token') {}
export class InvalidResourceToken extends defineError(400, 'invalid_resource_token') {}
export class ExpiredResourceToken extends defineError(400, 'expired_resource_token') {}
export class UnknownPersonToken extends defineError(400, 'unknown_person_token') {}
export class UserUnreachable extends defineError(403, 'user_unreachable') {}
export class ServerError extends defineError(500, 'server_error') {}

// --- Authorization endpoint error codes (§Authorization Endpoint Error Responses) -----------------
export class InvalidPersonToken extends defineError(400, 'invalid_person_token') {}
export class InvalidScope extends defineError(400, 'invalid_scope') {}
export class InvalidAccount extends defineError(400, 'invalid_account') {}

// --- Polling error codes (§Polling Error Codes) ---------------------------------------------------
export class Denied extends defineError(403, 'denied') {}
export class Abandoned extends defineError(403, 'abandoned') {}
export class Expired extends defineError(408, 'expired') {}
export class InvalidCode extends defineError(410, 'invalid_code') {}
export class SlowDown extends defineError(429, 'slow_down') {}

// --- Interaction endpoint (§Interaction Endpoint Errors) ------------------------------------------
export class InteractionUnavailable extends defineError(424, 'interaction_unavailable') {}

// --- Mission endpoint (§Mission Endpoint Errors, §Mission Status Errors) --------------------------
export class MissionNotFound extends defineError(404, 'mission_not_found') {}
export class MissionTerminated extends defineError(403, 'mission_terminated') {}

// --- Budgets companion draft ------------------------------------------------------------------------
export class InvalidBudget extends defineError(400, 'invalid_budget') {}

/**
 * A pending URL that was consumed or cancelled (§Deferred Response State Machine: `410` gone). The
 * spec names no code for it; `invalid_request` would suggest a retry, so we use `gone`
 * (docs/spec-decisions.md).
 */
export class Gone extends defineError(410, 'gone') {}

/** A refusal after authentication that no table names (e.g. a revocation by an unauthorised caller). */
export class Forbidden extends defineError(403, 'forbidden') {}

/** Not found where the spec only gives a status (e.g. revocation of an unknown `(iss, jti)`). */
export class NotFound extends defineError(404, 'not_found') {}

/** The database or a dependency is down: `503` with `Retry-After` (§Deferred Response State Machine). */
export class TemporarilyUnavailable extends defineError(503, 'temporarily_unavailable') {
  constructor(detail = 'The service is temporarily unavailable.', options: AAuthErrorOptions = {}) {
    super(detail, { ...options, headers: { 'retry-after': '5', ...options.headers } });
  }
}

// --- Signature-Error family (Signature-Key draft §5, protocol §Verification) ----------------------

/** Every value registered in the Signature Error Code registry plus the two the protocol adds. */
export type SignatureErrorCode =
  | 'unsupported_algorithm'
  | 'unsupported_scheme'
  | 'cache_miss'
  | 'invalid_signature'
  | 'invalid_input'
  | 'invalid_request'
  | 'invalid_key'
  | 'unknown_key'
  | 'invalid_jwt'
  | 'expired_jwt'
  | 'issuer_missing'
  | 'issuer_mismatch';

export const SIG_ERROR_TYPE_PREFIX = 'urn:ietf:params:sig-error:';

export interface SignatureErrorOptions extends AAuthErrorOptions {
  /** `required_input` member of `Signature-Error` for `invalid_input`. */
  requiredInput?: readonly string[];
  /** `Accept-Signature-Scheme` list (for `unsupported_scheme`). */
  acceptSchemes?: readonly string[];
  /** `Accept-Signature-Alg` list, JOSE identifiers (for `unsupported_algorithm`). */
  acceptAlgs?: readonly string[];
}

/**
 * A signature or key-trust failure. Always `401` (§Verification: "This profile pins the response
 * status to 401 for every signature failure"). The HTTP layer renders `Signature-Error`,
 * `Accept-Signature-*` from these fields.
 */
export class SignatureError extends AAuthError {
  readonly status = 401 as const;
  readonly error: SignatureErrorCode;
  readonly requiredInput: readonly string[] | undefined;
  readonly acceptSchemes: readonly string[] | undefined;
  readonly acceptAlgs: readonly string[] | undefined;

  constructor(code: SignatureErrorCode, detail?: string, options: SignatureErrorOptions = {}) {
    super(detail, options);
    this.error = code;
    this.requiredInput = options.requiredInput;
    this.acceptSchemes = options.acceptSchemes;
    this.acceptAlgs = options.acceptAlgs;
  }

  override toProblem(): ProblemDetails {
    const problem = super.toProblem();
    problem.type = `${SIG_ERROR_TYPE_PREFIX}${this.error}`;
    if (this.requiredInput) problem.required_input = [...this.requiredInput];
    return problem;
  }
}

function defineSignatureError<C extends SignatureErrorCode>(code: C) {
  return class extends SignatureError {
    static readonly code: C = code;
    constructor(detail?: string, options: SignatureErrorOptions = {}) {
      super(code, detail, options);
    }
  };
}

export class UnsupportedAlgorithm extends defineSignatureError('unsupported_algorithm') {}
export class UnsupportedScheme extends defineSignatureError('unsupported_scheme') {}
export class CacheMiss extends defineSignatureError('cache_miss') {}
export class InvalidSignature extends defineSignatureError('invalid_signature') {}
export class InvalidInput extends defineSignatureError('invalid_input') {}
/** `Signature-Error: error=invalid_request` (named apart from the 400 token-endpoint `InvalidRequest`). */
export class SignatureInvalidRequest extends defineSignatureError('invalid_request') {}
export class InvalidKey extends defineSignatureError('invalid_key') {}
export class UnknownKey extends defineSignatureError('unknown_key') {}
export class InvalidJwt extends defineSignatureError('invalid_jwt') {}
export class ExpiredJwt extends defineSignatureError('expired_jwt') {}
export class IssuerMissing extends defineSignatureError('issuer_missing') {}
export class IssuerMismatch extends defineSignatureError('issuer_mismatch') {}

export function isAAuthError(value: unknown): value is AAuthError {
  return value instanceof AAuthError;
}
