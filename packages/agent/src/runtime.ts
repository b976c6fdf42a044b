import { type Clock, systemClock } from '@aauth-ref/core';

/** Waits `ms` milliseconds. Injected so tests poll without waiting. */
export type Sleep = (ms: number) => Promise<void>;

export const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The global `fetch` shape the SDK uses (injectable). */
export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

/** One step of the dance, for `--verbose` output and logs. Tokens are never included. */
export interface AgentEvent {
  readonly step:
    | 'request'
    | 'response'
    | 'requirement'
    | 'agent-token'
    | 'person-token'
    | 'auth-token'
    | 'interaction'
    | 'clarification'
    | 'poll'
    | 'session-token'
    | 'enrollment'
    | 'mission';
  readonly message: string;
}

export interface Runtime {
  readonly clock: Clock;
  readonly sleep: Sleep;
  readonly fetch: FetchLike;
  readonly emit: (event: AgentEvent) => void;
}

export function createRuntime(options: {
  clock?: Clock;
  sleep?: Sleep;
  fetch?: FetchLike;
  onEvent?: (event: AgentEvent) => void;
}): Runtime {
  return {
    clock: options.clock ?? systemClock,
    sleep: options.sleep ?? realSleep,
    fetch: options.fetch ?? ((url, init) => globalThis.fetch(url, init)),
    emit: options.onEvent ?? (() => {}),
  };
}

/** Reads a JSON body; `undefined` when there is none or it is not JSON. */
export async function readJsonBody(response: Response): Promise<unknown> {
  const text = await response.text();
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
