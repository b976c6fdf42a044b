/**
 * Wire shapes of draft-hardt-aauth-r3, member names exactly as the draft spells them
 * (§Authorization Endpoint Extensions, §R3 Document, §Per-Call Proposals, §Auth Token Extensions).
 */

/** One operation entry. Its shape is vocabulary-specific (§MCP Vocabulary `{tool}`, §OpenAPI Vocabulary `{operationId}`, …). */
export type R3Operation = Readonly<Record<string, unknown>>;

/** `r3_operations` (request), `r3_granted` and `r3_per_call` (auth token claims). */
export interface R3Operations {
  readonly vocabulary: string;
  readonly operations: readonly R3Operation[];
}

/** §MCP Vocabulary operation entry. */
export interface R3McpOperation {
  readonly tool: string;
}

/** §OpenAPI Vocabulary operation entry. */
export interface R3OpenApiOperation {
  readonly operationId: string;
}

/** `display` of an R3 document (§R3 Document `display`, plus §Proposal Document `detail`). */
export interface R3Display {
  /** REQUIRED when `display` is present. */
  readonly summary: string;
  readonly implications?: string;
  readonly data_accessed?: string;
  readonly irreversible?: string;
  /** Markdown, per-call proposals only (§Proposal Document). Render only after sanitization. */
  readonly detail?: string;
}

/** A parameter carried as a digest in place of its value (§Proposal Document `parameters`). */
export interface R3DigestParameter {
  /** BASE64URL(SHA-256(value-bytes)) of the value as it will be presented at call time. */
  readonly s256: string;
  readonly excerpt?: string;
  readonly media_type?: string;
}

/** An R3 document; with `parameters` (and exactly one operation) it is a per-call proposal. */
export interface R3Document {
  readonly vocabulary: string;
  readonly operations: readonly R3Operation[];
  readonly account?: string;
  readonly display?: R3Display;
  /** Per-call proposals only: inline JSON values or digest objects. */
  readonly parameters?: Readonly<Record<string, unknown>>;
  /** Members this code does not know are kept; readers ignore them. */
  readonly [member: string]: unknown;
}

/** The R3 claims of a resource token (§Resource Token Extensions): both or neither. */
export interface R3ResourceTokenClaims {
  r3_uri?: string;
  r3_s256?: string;
}

/** The R3 claims of an auth token (§Auth Token Extensions). */
export interface R3AuthTokenClaims {
  r3_uri?: string;
  r3_s256?: string;
  r3_granted?: R3Operations;
  r3_per_call?: R3Operations;
}
