import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { expect, it } from 'vitest';
import { type ForgedRequest, injectForged } from './forge.js';

/**
 * The table of negative cases: each row names the spec section it enforces, builds one request and
 * states the exact outcome. The runner asserts the outcome, the error channel's headers
 * (ARCHITECTURE.md *Request path*), no 5xx, and that the server's tables did not change.
 */

export interface Expected {
  readonly status: number;
  /** `error` member of the problem+json body. */
  readonly error?: string;
  /** The `error` of `Signature-Error` (a signature or key-trust failure: always 401). */
  readonly signatureError?: string;
  /** `AAuth-Requirement`'s `requirement` (a 401 challenge). */
  readonly requirement?: string;
  /** Headers that must be present with this value (a RegExp tests it), or absent (`null`). */
  readonly headers?: Readonly<Record<string, string | RegExp | null>>;
}

export interface NegativeCase {
  /** Cites the spec section (`§…`). */
  readonly name: string;
  /** The request: a forged one, or a whole `inject` call for requests the forger cannot express. */
  readonly request: () =>
    | Promise<ForgedRequest | LightMyRequestResponse>
    | ForgedRequest
    | LightMyRequestResponse;
  readonly expect: Expected;
  /**
   * Tables this row may change, each with the reason (e.g. a verified token recorded for revocation
   * before the route refused the request). Every other table must keep its row count.
   */
  readonly mayChange?: Readonly<Record<string, string>>;
  /** Extra check after the response (a follow-up request behaving as before). */
  readonly after?: (response: LightMyRequestResponse) => Promise<void> | void;
}

export interface CaseTarget {
  readonly app: () => FastifyInstance;
  readonly issuer: string;
  readonly countRows: () => Promise<Record<string, number>>;
}

function isResponse(value: ForgedRequest | LightMyRequestResponse): value is LightMyRequestResponse {
  return typeof (value as LightMyRequestResponse).statusCode === 'number';
}

function bodyOf(response: LightMyRequestResponse): Record<string, unknown> {
  try {
    const parsed = JSON.parse(response.body) as unknown;
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** `error=invalid_signature` (possibly with `required_input`) → `invalid_signature`. */
export function signatureErrorCode(response: LightMyRequestResponse): string | undefined {
  const header = response.headers['signature-error'];
  if (header === undefined) return undefined;
  return /(?:^|[;,\s])error=([a-z_]+)/.exec(String(header))?.[1];
}

/** Asserts the outcome of one case (shared by the table runner and the fuzz checks). */
export function assertOutcome(response: LightMyRequestResponse, expected: Expected): void {
  const body = bodyOf(response);
  const got = {
    status: response.statusCode,
    error: body.error,
    signatureError: signatureErrorCode(response),
  };
  expect(response.statusCode, `no 5xx: ${response.body}`).toBeLessThan(500);
  expect(got, `response: ${response.body.slice(0, 300)}`).toMatchObject({
    status: expected.status,
    ...(expected.error === undefined ? {} : { error: expected.error }),
    ...(expected.signatureError === undefined ? {} : { signatureError: expected.signatureError }),
  });
  if (expected.signatureError !== undefined) {
    expect(response.statusCode).toBe(401);
    expect(body.type).toBe(`urn:ietf:params:sig-error:${expected.signatureError}`);
    expect(String(response.headers['content-type'])).toMatch(/^application\/problem\+json/);
  }
  if (expected.signatureError === undefined && response.statusCode !== 401) {
    // Only a signature failure carries Signature-Error.
    expect(response.headers['signature-error']).toBeUndefined();
  }
  if (response.statusCode === 403) {
    // §Verification; Signature-Key: a 403 never carries the signature challenge headers.
    expect(response.headers['signature-error']).toBeUndefined();
    expect(response.headers['accept-signature-scheme']).toBeUndefined();
    expect(response.headers['accept-signature-alg']).toBeUndefined();
  }
  if (expected.requirement !== undefined) {
    expect(response.statusCode).toBe(401);
    expect(String(response.headers['aauth-requirement'])).toMatch(
      new RegExp(`^requirement=${expected.requirement}(?:;|$)`),
    );
  }
  for (const [name, value] of Object.entries(expected.headers ?? {})) {
    const actual = response.headers[name];
    if (value === null) expect(actual, name).toBeUndefined();
    else if (value instanceof RegExp) expect(String(actual), name).toMatch(value);
    else expect(actual, name).toBe(value);
  }
}

/** Counts of the cases registered, by table (the figures in docs/reliability.md). */
export const registeredCases = new Map<string, number>();

/** Registers one Vitest test per row. */
export function runNegativeCases(table: string, target: CaseTarget, cases: readonly NegativeCase[]): void {
  registeredCases.set(table, cases.length);
  const names = new Set<string>();
  for (const row of cases) {
    if (names.has(row.name)) throw new Error(`duplicate case name: ${row.name}`);
    names.add(row.name);
    if (!row.name.includes('§')) throw new Error(`case name cites no spec section: ${row.name}`);
    it(row.name, async () => {
      const before = await target.countRows();
      const built = await row.request();
      const response = isResponse(built) ? built : await injectForged(target.app(), target.issuer, built);
      assertOutcome(response, row.expect);
      const after = await target.countRows();
      for (const table of Object.keys(row.mayChange ?? {})) {
        delete after[table];
        delete before[table];
      }
      expect(after, 'nothing stored or changed').toEqual(before);
      await row.after?.(response);
    });
  }
}
