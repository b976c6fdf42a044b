import type { TestAgentProvider } from '@aauth-ref/testkit';
import { PersonBrowser } from '../../../e2e/test/support/person.js';
import {
  type Answer,
  createFlowAgent,
  type FlowAgent,
  jsonOf,
  obtainAuthToken,
  obtainPersonToken,
  renewFlowAgent,
  resourceTokenOf,
  type Sender,
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
/** A signed request of an agent renewing its tokens (`renewLoadAgent`), recorded apart from the mix. */
export type RecordedOperation = Operation | 'agent-renewal';
export const OPERATIONS: readonly Operation[] = [
  'person-token',
  'auth-token',
  'resource-read',
  'resource-write',
];

export interface Sample {
  readonly op: RecordedOperation;
  /** `ps` or `rs`: which server answered. */
  readonly server: 'ps' | 'rs';
  /** Start, ms since the epoch. */
  readonly at: number;
  readonly ms: number;
  /** 0: no HTTP answer (see `failure`). */
  readonly status: number;
  readonly retryAfter: string | null;
  /** The `Signature-Error` header: a `401` carrying it is a rejection, not a challenge. */
  readonly signatureError?: string | null;
  readonly error: string | undefined;
  /** The problem `detail` of an error answer, so a failure can be told apart from its kind. */
  readonly detail?: string;
  readonly failure?: string;
}

interface LoadTokens {
  personToken: string;
  readToken: string;
  writeToken: string;
}

export interface LoadAgent extends LoadTokens {
  /** Replaced (same key and `sub`) when the agent renews its agent token. */
  agent: FlowAgent;
  /** Per path, the second (`created`) of this agent's last state-changing request. */
  readonly lastWrite: Map<string, number>;
  /** alice's browser, signed in at the PS at the first consent and reused for every later one. */
  readonly browser: PersonBrowser;
  /** Lifetime of each agent token the agent gets, seconds. */
  readonly lifetimeSeconds: number;
  /** When the agent renews (ms since the epoch): a margin before its agent token's `exp`. */
  renewAt: number;
}

export interface Targets {
  readonly ps: string;
  readonly rs: string;
}

/** An agent renews this long before its agent token's `exp`: time for a consent, should the PS ask. */
export function renewalMarginMs(lifetimeSeconds: number): number {
  return Math.max(15_000, (lifetimeSeconds * 1000) / 4);
}

/**
 * The agent's person token, a `notes.read` auth token for `GET /api/journal` and a `notes.write`
 * auth token for `POST /api/notes` (both against R3 class documents). alice approves in `browser`
 * whenever the PS asks — the first time; the PS remembers her decision on a class document, so a
 * renewal is answered at once. Every token is capped by the agent token's `exp`.
 */
async function obtainLoadTokens(
  agent: FlowAgent,
  targets: Targets,
  options: { send: Sender; browser: PersonBrowser },
): Promise<LoadTokens> {
  const personToken = await obtainPersonToken(targets.ps, targets.rs, agent, options);
  const journal = `${targets.rs}/api/journal`;
  const readToken = await obtainAuthToken(targets.ps, journal, agent, personToken, {}, options);
  const writeToken = await obtainAuthToken(
    targets.ps,
    `${targets.rs}/api/notes`,
    agent,
    personToken,
    { method: 'POST', body: { text: 'consent' } },
    options,
  );
  return { personToken, readToken, writeToken };
}

/** `sender` with at most one state-changing request per path per second for this agent. */
function pacedSender(load: Pick<LoadAgent, 'lastWrite'>, sender: Sender): Sender {
  return async (url, agent, init = {}) => {
    if ((init.method ?? 'GET') === 'GET') return sender(url, agent, init);
    return pacedSend(load, new URL(url).pathname, () => sender(url, agent, init));
  };
}

/**
 * Agents bound to alice, each holding the tokens of `obtainLoadTokens`; their agent tokens live
 * `lifetimeSeconds` (default an hour: no renewal within a fault script).
 */
export async function prepareLoadAgents(
  ap: TestAgentProvider,
  targets: Targets,
  count: number,
  options: { lifetimeSeconds?: number } = {},
): Promise<LoadAgent[]> {
  const lifetimeSeconds = options.lifetimeSeconds ?? 3600;
  const agents: LoadAgent[] = [];
  for (let i = 0; i < count; i++) {
    const agent = createFlowAgent(ap, targets.ps, lifetimeSeconds);
    const lastWrite = new Map<string, number>();
    const browser = new PersonBrowser();
    const tokens = await obtainLoadTokens(agent, targets, {
      send: pacedSender({ lastWrite }, send),
      browser,
    });
    const renewAt = agent.expiresAt - renewalMarginMs(lifetimeSeconds);
    agents.push({ agent, ...tokens, lastWrite, browser, lifetimeSeconds, renewAt });
  }
  return agents;
}

export function needsRenewal(load: LoadAgent, now = Date.now()): boolean {
  return now >= load.renewAt;
}

/**
 * Renews `load` before its agent token expires: a new agent token from the Agent Provider (same key
 * and `sub`), then a person token, a read token and a write token (alice approving the R3 write
 * again if asked) as `prepareLoadAgents` got them. Every signed request is recorded as `agent-renewal`; a
 * renewal that fails for another reason is recorded as a failure, and the agent tries again in 5 s.
 */
export async function renewLoadAgent(
  ap: TestAgentProvider,
  load: LoadAgent,
  targets: Targets,
  recorder: Recorder,
  timeoutMs: number,
): Promise<void> {
  const agent = renewFlowAgent(ap, load.agent, load.lifetimeSeconds);
  const recorded: Sender = (url, signer, init = {}) =>
    recorder.measure('agent-renewal', url.startsWith(targets.ps) ? 'ps' : 'rs', () =>
      send(url, signer, { timeoutMs, ...init }),
    );
  const at = Date.now();
  try {
    const tokens = await obtainLoadTokens(agent, targets, {
      send: pacedSender(load, recorded),
      browser: load.browser,
    });
    Object.assign(load, tokens);
    load.agent = agent;
    load.renewAt = agent.expiresAt - renewalMarginMs(load.lifetimeSeconds);
  } catch (err) {
    // An HTTP failure is already a sample; a flow that went wrong on a good status is not.
    if (!(err instanceof RecordedFailure)) recorder.fail('agent-renewal', 'ps', at, err);
    load.renewAt = Date.now() + 5_000;
  }
}

/** A request failure `Recorder.measure` has already recorded. */
class RecordedFailure extends Error {}

function messageOf(err: unknown): string {
  return err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
}

export class Recorder {
  readonly samples: Sample[] = [];

  /** Records `call`'s answer; a call that throws is recorded as status 0 and rethrown. */
  async measure(op: RecordedOperation, server: 'ps' | 'rs', call: () => Promise<Answer>): Promise<Answer> {
    const at = Date.now();
    const started = performance.now();
    let answer: Answer;
    try {
      answer = await call();
    } catch (err) {
      this.fail(op, server, at, err, performance.now() - started);
      throw new RecordedFailure(messageOf(err), { cause: err });
    }
    const body = jsonOf(answer);
    this.samples.push({
      op,
      server,
      at,
      ms: performance.now() - started,
      status: answer.status,
      retryAfter: answer.headers.get('retry-after'),
      signatureError: answer.headers.get('signature-error'),
      error: typeof body.error === 'string' ? body.error : undefined,
      ...(typeof body.detail === 'string' ? { detail: body.detail } : {}),
    });
    return answer;
  }

  /** Like `measure`, but a call that throws resolves `undefined` (the sample says why). */
  async timed(op: Operation, server: 'ps' | 'rs', call: () => Promise<Answer>): Promise<Answer | undefined> {
    return this.measure(op, server, call).catch(() => undefined);
  }

  /** A step that failed without an HTTP answer to record (status 0). */
  fail(op: RecordedOperation, server: 'ps' | 'rs', at: number, err: unknown, ms = Date.now() - at): void {
    this.samples.push({
      op,
      server,
      at,
      ms,
      status: 0,
      retryAfter: null,
      error: undefined,
      failure: messageOf(err),
    });
  }
}

/**
 * The success statuses of each step; anything else counts as an error. A `401` counts only as a
 * challenge (`AAuth-Requirement`), never with `Signature-Error`: an expired or refused token is an error.
 */
const OK: Readonly<Record<RecordedOperation, readonly number[]>> = {
  'person-token': [200],
  'auth-token': [200, 401],
  'resource-read': [200],
  'resource-write': [201],
  // The renewal's challenge (401), its consent pending (202) and the tokens (200).
  'agent-renewal': [200, 202, 401],
};

export function isSuccess(sample: Sample): boolean {
  if (sample.status === 401 && sample.signatureError) return false;
  return OK[sample.op].includes(sample.status);
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
 * `(key thumbprint, created, @method, @authority, @path)` — ours do when the bytes are the same too,
 * and Ed25519 is deterministic — so an agent sends at most one POST per path per second: `send` waits
 * for the second after the last one. The second is recorded when the request has been answered, not
 * before it is signed: a request signed just across a second boundary would otherwise leave the
 * earlier second on record and let the next one share its `created` (seen once in 17,110 requests).
 */
async function pacedSend<T>(
  load: Pick<LoadAgent, 'lastWrite'>,
  path: string,
  send: () => Promise<T>,
): Promise<T> {
  const last = load.lastWrite.get(path);
  const now = Date.now();
  if (last !== undefined && Math.floor(now / 1000) <= last) {
    await new Promise((resolve) => setTimeout(resolve, (last + 1) * 1000 - now + 5));
  }
  try {
    return await send();
  } finally {
    const second = Math.floor(Date.now() / 1000);
    load.lastWrite.set(path, Math.max(load.lastWrite.get(path) ?? second, second));
  }
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
      const answer = await pacedSend(load, '/person', () =>
        recorder.timed(op, 'ps', () =>
          send(`${targets.ps}/person`, agent, { method: 'POST', body: { resource: targets.rs }, timeoutMs }),
        ),
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
      const answer = await pacedSend(load, '/token', () =>
        recorder.timed(op, 'ps', () =>
          send(`${targets.ps}/token`, agent, {
            method: 'POST',
            body: { resource_token: resourceToken },
            timeoutMs,
          }),
        ),
      );
      const token = answer && jsonOf(answer).auth_token;
      if (typeof token === 'string') load.readToken = token;
      return;
    }
    case 'resource-read':
      await recorder.timed(op, 'rs', () => send(journal, agent, { token: load.readToken, timeoutMs }));
      return;
    case 'resource-write':
      await pacedSend(load, '/api/notes', () =>
        recorder.timed(op, 'rs', () =>
          send(`${targets.rs}/api/notes`, agent, {
            method: 'POST',
            token: load.writeToken,
            body: { text: 'load' },
            timeoutMs,
          }),
        ),
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
