/**
 * What the parent (load generator) tells the child (server) at start: identifiers and public keys.
 * Private keys never leave the parent: the child resolves the stub PS's keys locally, as the resource
 * server's own tests do.
 */
export interface BenchWorld {
  /** The resource's identifier (`ISSUER`), whose authority every signature covers. */
  readonly resource: string;
  /** The stub Person Server's identifier. */
  readonly ps: string;
  /** The stub PS's public JWKs. */
  readonly psJwks: readonly Record<string, unknown>[];
  /** The agent's public JWK (the `cnf.jwk` of its tokens). */
  readonly agentJwk: Record<string, unknown>;
  /** `sub` of the person the auth token speaks for (at the stub PS): whose notes (a′) reads. */
  readonly personSub: string;
}

export function readBenchWorld(raw: string | undefined): BenchWorld {
  if (raw === undefined || raw === '')
    throw new Error('BENCH_WORLD is not set (the server is started by hot-path.ts)');
  const parsed = JSON.parse(raw) as Partial<BenchWorld>;
  if (
    typeof parsed.resource !== 'string' ||
    typeof parsed.ps !== 'string' ||
    !Array.isArray(parsed.psJwks) ||
    typeof parsed.agentJwk !== 'object' ||
    parsed.agentJwk === null ||
    typeof parsed.personSub !== 'string'
  ) {
    throw new Error('BENCH_WORLD is malformed');
  }
  return parsed as BenchWorld;
}
