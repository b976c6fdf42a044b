import {
  type AAuthRequirement,
  type IdentifierPolicy,
  InvalidRequest,
  parseAAuthRequirement,
  parseRetryAfter,
  serializePreferWait,
} from '@aauth-ref/core';
import { errorFromResponse, RequestCancelled, UnsupportedRequirement } from './errors.js';
import { type Runtime, readJsonBody } from './runtime.js';

/** §Interaction Required: where to send the person. */
export interface InteractionPrompt {
  readonly url: string;
  readonly code: string;
  /** The origin that asked (PS, AS, resource or AP). */
  readonly server: string;
}

/** §Clarification Required: the question, as the body carries it. */
export interface ClarificationPrompt {
  readonly clarification: string;
  readonly timeout?: number;
  readonly options?: readonly string[];
  readonly server: string;
}

/** §Agent Response to Clarification: one of the three actions. */
export type ClarificationAnswer =
  | { readonly action: 'clarification_response'; readonly clarification_response: string }
  | { readonly action: 'updated_request'; readonly resource_token: string; readonly justification?: string }
  | { readonly action: 'cancel' };

export interface DeferredHandlers {
  /** Sends a signed request to the pending URL (GET to poll, POST to answer, DELETE to cancel). */
  send(
    method: 'GET' | 'POST' | 'DELETE',
    url: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<Response>;
  onInteraction?(prompt: InteractionPrompt): void | Promise<void>;
  onClarification?(prompt: ClarificationPrompt): ClarificationAnswer | Promise<ClarificationAnswer>;
  /** §Deferred Delivery: the 202 form of `auth-token`; obtain the auth token so the next poll presents it. */
  onAuthToken?(resourceToken: string): Promise<void>;
}

export interface DeferredOptions {
  readonly runtime: Runtime;
  readonly identifierPolicy: IdentifierPolicy;
  /** `Prefer: wait=N` on every poll (§Polling with GET). */
  readonly preferWait?: number;
}

/** §Polling with GET: "If a Retry-After header is not present, the default polling interval is 5 seconds." */
export const DEFAULT_POLL_SECONDS = 5;
/** §Polling with GET: on 429 "increase its polling interval by 5 seconds". */
export const SLOW_DOWN_STEP_SECONDS = 5;

function pendingLocation(response: Response, requestUrl: string): string {
  const location = response.headers.get('location');
  if (location === null) throw new InvalidRequest('A 202 response has no Location.');
  let resolved: URL;
  try {
    resolved = new URL(location, requestUrl);
  } catch (cause) {
    throw new InvalidRequest('A 202 response has a malformed Location.', { cause });
  }
  // §Pending Response: "The Location URL MUST be on the same origin as the responding server."
  if (resolved.origin !== new URL(requestUrl).origin) {
    throw new InvalidRequest('A 202 Location is not on the origin of the server that answered.');
  }
  return resolved.href;
}

function stringField(body: unknown, name: string): string | undefined {
  const value =
    typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[name] : undefined;
  return typeof value === 'string' ? value : undefined;
}

function readClarification(body: unknown, server: string): ClarificationPrompt {
  const clarification = stringField(body, 'clarification');
  if (clarification === undefined) throw new InvalidRequest('A clarification has no clarification member.');
  const record = body as Record<string, unknown>;
  const prompt: { -readonly [K in keyof ClarificationPrompt]: ClarificationPrompt[K] } = {
    clarification,
    server,
  };
  if (typeof record.timeout === 'number' && Number.isFinite(record.timeout)) prompt.timeout = record.timeout;
  if (Array.isArray(record.options) && record.options.every((o) => typeof o === 'string')) {
    prompt.options = record.options as string[];
  }
  return prompt;
}

/**
 * The agent's side of §Deferred Response State Machine, from a `202` to a terminal response.
 * Returns the first non-`202` response that is not a protocol state (the caller reads its body: a
 * token, or a held invocation's result); throws the typed error for `403`, `408`, `410`, `500` and
 * for `401` with `Signature-Error`. Honours `Retry-After` (default 5 s), adds 5 s per `429`, backs
 * off on `503`, stops prompting once `status` is `interacting`, answers clarifications, and surfaces
 * a requirement it cannot satisfy as `UnsupportedRequirement` without polling on.
 */
export async function followDeferred(
  first: Response,
  requestUrl: string,
  handlers: DeferredHandlers,
  options: DeferredOptions,
): Promise<Response> {
  const { runtime } = options;
  const server = new URL(requestUrl).origin;
  let response = first;
  let location = pendingLocation(first, requestUrl);
  let slowDown = 0;
  const prompted = new Set<string>();
  const handledResourceTokens = new Set<string>();
  let lastClarification: string | undefined;

  for (;;) {
    let waitSeconds: number;
    if (response.status === 202) {
      location = pendingLocation(response, location);
      const body = await readJsonBody(response);
      const requirement: AAuthRequirement | undefined = parseAAuthRequirement(
        response.headers.get('aauth-requirement') ?? undefined,
        options.identifierPolicy,
      );
      const status = stringField(body, 'status') ?? 'pending';
      waitSeconds =
        parseRetryAfter(response.headers.get('retry-after') ?? undefined, runtime.clock) ??
        DEFAULT_POLL_SECONDS;
      const answered = await actOnRequirement(requirement, status, body);
      if (answered !== undefined) {
        response = answered;
        continue;
      }
    } else if (response.status === 429) {
      slowDown += SLOW_DOWN_STEP_SECONDS;
      waitSeconds = DEFAULT_POLL_SECONDS;
      runtime.emit({ step: 'poll', message: `429 slow_down: polling interval +${slowDown}s` });
    } else if (response.status === 503) {
      waitSeconds =
        parseRetryAfter(response.headers.get('retry-after') ?? undefined, runtime.clock) ??
        DEFAULT_POLL_SECONDS;
    } else if (response.status === 401 && response.headers.has('aauth-requirement')) {
      // A poll answered with a fresh challenge: the held invocation needs a (new) auth token.
      const requirement = parseAAuthRequirement(
        response.headers.get('aauth-requirement') ?? undefined,
        options.identifierPolicy,
      );
      if (requirement?.requirement !== 'auth-token' || !handlers.onAuthToken) {
        throw new UnsupportedRequirement(
          401,
          requirement?.requirement === 'unknown' ? requirement.value : (requirement?.requirement ?? 'none'),
        );
      }
      await handlers.onAuthToken(requirement['resource-token']);
      waitSeconds = 0;
    } else if ([401, 403, 408, 410, 500].includes(response.status)) {
      throw errorFromResponse(response.status, response.headers, await readJsonBody(response));
    } else {
      return response;
    }

    const delayMs = (waitSeconds + slowDown) * 1000;
    runtime.emit({ step: 'poll', message: `GET ${location} in ${waitSeconds + slowDown}s` });
    if (delayMs > 0) await runtime.sleep(delayMs);
    const headers: Record<string, string> =
      options.preferWait === undefined ? {} : { prefer: serializePreferWait(options.preferWait) };
    response = await handlers.send('GET', location, undefined, headers);
  }

  /** Returns a response to continue with when the requirement was answered by a request. */
  async function actOnRequirement(
    requirement: AAuthRequirement | undefined,
    status: string,
    body: unknown,
  ): Promise<Response | undefined> {
    switch (requirement?.requirement) {
      case undefined:
      case 'approval':
        return undefined;
      case 'interaction': {
        // §Pending Response: `interacting` means the person arrived; stop prompting.
        if (status === 'interacting' || prompted.has(requirement.code)) return undefined;
        if (!handlers.onInteraction) {
          throw new UnsupportedRequirement(
            202,
            'interaction',
            'No way to bring the person to the interaction URL.',
          );
        }
        prompted.add(requirement.code);
        runtime.emit({
          step: 'interaction',
          message: `open ${requirement.url} and enter ${requirement.code}`,
        });
        await handlers.onInteraction({ url: requirement.url, code: requirement.code, server });
        return undefined;
      }
      case 'clarification': {
        const prompt = readClarification(body, server);
        if (prompt.clarification === lastClarification) return undefined;
        if (!handlers.onClarification) throw new UnsupportedRequirement(202, 'clarification');
        lastClarification = prompt.clarification;
        runtime.emit({ step: 'clarification', message: prompt.clarification });
        const answer = await handlers.onClarification(prompt);
        if (answer.action === 'cancel') {
          const cancelled = await handlers.send('DELETE', location);
          if (cancelled.status >= 400 && cancelled.status !== 410) {
            throw errorFromResponse(cancelled.status, cancelled.headers, await readJsonBody(cancelled));
          }
          throw new RequestCancelled();
        }
        const posted = await handlers.send('POST', location, answer);
        if (posted.status >= 400)
          throw errorFromResponse(posted.status, posted.headers, await readJsonBody(posted));
        // §Clarification Response: "After posting, the agent resumes polling with GET."
        return posted.status === 202 ? posted : undefined;
      }
      case 'auth-token': {
        const token = requirement['resource-token'];
        if (handledResourceTokens.has(token)) return undefined;
        if (!handlers.onAuthToken) throw new UnsupportedRequirement(202, 'auth-token');
        handledResourceTokens.add(token);
        await handlers.onAuthToken(token);
        // Holding an auth token now: present it at once rather than after Retry-After.
        return handlers.send('GET', location);
      }
      case 'unknown':
        throw new UnsupportedRequirement(202, requirement.value);
      default:
        throw new UnsupportedRequirement(202, requirement?.requirement ?? 'none');
    }
  }
}
