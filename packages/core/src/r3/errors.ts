import { type AAuthErrorOptions, InvalidRequest } from '../errors.js';

/**
 * Why an R3 value was refused. The resource maps these to its own channel (an unknown operation in
 * `r3_operations` is `invalid_scope` there); an issuer fetching a document refuses the resource token.
 */
export type R3FailureReason =
  | 'malformed' // not the shape the draft defines (missing/mistyped member, duplicate operation, …)
  | 'not_json' // bytes are not UTF-8 JSON text of an object
  | 'hash_mismatch' // the bytes do not hash to the expected `r3_s256` (§Hash Verification)
  | 'vocabulary' // a vocabulary the caller does not support here
  | 'unknown_operation'; // an operation the authoritative definition does not have (§Operation Validation)

/**
 * A typed refusal of an R3 value. It is a 400 `invalid_request` unless the caller re-maps it, which
 * is why it extends `InvalidRequest`: rendered as is, it is still a client error, never a 500.
 */
export class R3Error extends InvalidRequest {
  readonly reason: R3FailureReason;
  constructor(reason: R3FailureReason, detail: string, options?: AAuthErrorOptions) {
    super(detail, options);
    this.reason = reason;
  }
}
