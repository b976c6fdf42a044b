import type { TestAgentProvider } from '@aauth-ref/testkit';
import {
  type Answer,
  createFlowAgent,
  type FlowAgent,
  jsonOf,
  obtainAuthToken,
  obtainPersonToken,
  resourceTokenOf,
  send,
} from './flow.js';

/**
 * The three-party request mix the fault scripts drive (§Three-Party Flow), over real HTTP with the
 * system clock: agents already bound to alice, holding a person token and auth tokens she consented
 * to, so every step answers at once. Each request is recorded with its status, `Retry-After` and
 * latency; a request that throws (connection refused, no answer within the bound) is recorded as
 * status 0 with the message.
 */

export type Operation = 'person-token' | 'auth-token' | 'resource-read' | 'resource-write';
export const OPERATIONS: readonly Operation[] = [
  'person-token',
  'auth-token',
  'resource-read',
  'resource-write',
];

export interface Sample {
  readonly op: Operation;
  /** `ps` or `rs`: which server answered. */
  readonly server: 'ps' | 'rs';
  /** Start, ms since the epoch. */
  readonly at: number;
  readonly ms: number;
  /** 0: no HTTP answer (see `failure`). */
  readonly status: number;
  readonly retryAfter: string | null;
  readonly error: string | undefined;
  readonly failure?: string;
}

export interface LoadAgent {
  readonly agent: FlowAgent;
  /** Per path, the second (`created`) of this agent's last state-changing request. */
  readonly lastWrite: Map<string, number>;
  personToken: string;
  readToken: string;
  writeToken: string;
}

export interface Targets {
  readonly ps: string;
  readonly rs: string;
}

/**
 * Agents bound to alice, each with a person token, a `notes.read` auth token for `GET /api/journal`
 * (a plain scope: the consent is remembered, so later requests are answered at once) and a
 * `notes.write` auth token for `POST /api/notes` (an R3 class document, which the PS always puts to
 * the person; the token is reused for every write).
 */
export async function prepareLoadAgents(
  ap: TestAgentProvider,
  targets: Targets,
  count: number,
): Promise<LoadAgent[]> {
  const agents: LoadAgent[] = [];
  const notes = `${targets.rs}/api/notes`;
  for (let i = 0; i < count; i++) {
    const agent = createFlowAgent(ap, targets.ps);
    const personToken = await obtainPersonToken(targets.ps, targets.rs, agent);
    const readToken = await obtainAuthToken(targets.ps, `${targets.rs}/api/journal`, agent, personToken);
    const writeToken = await obtainAuthToken(targets.ps, notes, agent, personToken, {
      method: 'POST',
      body: { text: 'consent' },
    });
    agents.push({ agent, personToken, readToken, writeToken, lastWrite: new Map() });
  }
  return agents;
}

export class Recorder {
  readonly samples: Sample[] = [];

  async timed(op: Operation, server: 'ps' | 'rs', call: () => Promise<Answer>): Promise<Answer | undefined> {
    const at = Date.now();
    const started = performance.now();
    try {
      const answer = await call();
      this.samples.push({
        op,
        server,
        at,
        ms: performance.now() - started,
        status: answer.status,
        retryAfter: answer.headers.get('retry-after'),
        error: typeof jsonOf(answer).error === 'string' ? String(jsonOf(answer).error) : undefined,
      });
      return answer;
    } catch (err) {
      this.samples.push({
        op,
        server,
        at,
        ms: performance.now() - started,
        status: 0,
        retryAfter: null,
        error: undefined,
        failure:
          err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err),
      });
      return undefined;
    }
  }
}

/** The success statuses of each step; anything else counts as an error. */
const OK: Readonly<Record<string, readonly number[]>> = {
  'person-token': [200],
  'auth-token': [200, 401],
  'resource-read': [200],
  'resource-write': [201],
};

export function isSuccess(sample: Sample): boolean {
  return (OK[sample.op] ?? []).includes(sample.status);
}

/**
 * One step of the mix for one agent:
 * - `person-token`: `POST /person` at the PS (the agent is bound: answered at once);
 * - `auth-token`: `GET /api/journal` with the person token earns `401 requirement=auth-token`
 *   (without `AAuth-Capabilities: interaction` the journal is three-party), then the PS's `/token`
 *   answers the `notes.read` auth token at once (consent given): two requests;
 * - `resource-read`: `GET /api/journal` with that auth token (reads the notes);
 * - `resource-write`: `POST /api/notes` with the `notes.write` auth token (writes a note, replay
 *   cache entry included).
 */
/**
 * §Freshness and Replay: a verifier may reject a second state-changing request with the same
 * `(key thumbprint, created, @method, @authority, @path)` — and ours do, since the profile has no
 * nonce — so an agent sends at most one POST per path per second. Waits for the next second if needed.
 */
async function awaitFreshSecond(load: LoadAgent, path: string): Promise<void> {
  const last = load.lastWrite.get(path);
  let now = Date.now();
  if (last !== undefined && Math.floor(now / 1000) <= last) {
    await new Promise((resolve) => setTimeout(resolve, (last + 1) * 1000 - now + 5));
    now = Date.now();
  }
  load.lastWrite.set(path, Math.floor(now / 1000));
}

export async function runOperation(
  op: Operation,
  load: LoadAgent,
  targets: Targets,
  recorder: Recorder,
  timeoutMs: number,
): Promise<void> {
  const journal = `${targets.rs}/api/journal`;
  const { agent } = load;
  switch (op) {
    case 'person-token': {
      await awaitFreshSecond(load, '/person');
      const answer = await recorder.timed(op, 'ps', () =>
        send(`${targets.ps}/person`, agent, { method: 'POST', body: { resource: targets.rs }, timeoutMs }),
      );
      const token = answer && jsonOf(answer).person_token;
      if (typeof token === 'string') load.personToken = token;
      return;
    }
    case 'auth-token': {
      const challenge = await recorder.timed(op, 'rs', () =>
        send(journal, agent, { token: load.personToken, timeoutMs }),
      );
      if (challenge?.status !== 401) return;
      let resourceToken: string;
      try {
        resourceToken = resourceTokenOf(challenge);
      } catch {
        return;
      }
      await awaitFreshSecond(load, '/token');
      const answer = await recorder.timed(op, 'ps', () =>
        send(`${targets.ps}/token`, agent, {
          method: 'POST',
          body: { resource_token: resourceToken },
          timeoutMs,
        }),
      );
      const token = answer && jsonOf(answer).auth_token;
      if (typeof token === 'string') load.readToken = token;
      return;
    }
    case 'resource-read':
      await recorder.timed(op, 'rs', () => send(journal, agent, { token: load.readToken, timeoutMs }));
      return;
    case 'resource-write':
      await awaitFreshSecond(load, '/api/notes');
      await recorder.timed(op, 'rs', () =>
        send(`${targets.rs}/api/notes`, agent, {
          method: 'POST',
          token: load.writeToken,
          body: { text: 'load' },
          timeoutMs,
        }),
      );
      return;
  }
}

/** The mix in a fixed rotation: one of each step per cycle. */
export function* mixCycle(): Generator<Operation> {
  for (;;) for (const op of OPERATIONS) yield op;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

export function countBy<T>(items: readonly T[], key: (item: T) => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[key(item)] = (counts[key(item)] ?? 0) + 1;
  return counts;
}
