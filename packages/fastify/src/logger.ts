import type { FastifyLoggerOptions } from 'fastify';
import type { DestinationStream, LoggerOptions } from 'pino';

/**
 * pino options for every server (CONVENTIONS.md, *Logs, health, shutdown*): structured, one `event`
 * field per protocol event, and credentials redacted by configuration. `Signature-Input` is kept: it
 * names components and parameters, which is what an operator needs to debug a rejection, and is not
 * secret.
 */

const SECRET_HEADERS = [
  'signature',
  '"signature-key"',
  'authorization',
  'cookie',
  '"set-cookie"',
  '"aauth-access"',
];

/** Body members that carry tokens anywhere in the protocol. */
const TOKEN_FIELDS = [
  'token',
  'jwt',
  'agent_token',
  'subagent_token',
  'resource_token',
  'upstream_token',
  'auth_token',
  'person_token',
  'person_tokens',
  'access_token',
  'refresh_token',
  'id_token',
  'session_token',
];

function bracket(name: string): string {
  return name.startsWith('"') ? `[${name}]` : `.${name}`;
}

export const REDACTED_PATHS: readonly string[] = [
  ...['req.headers', 'res.headers', 'headers', 'request.headers', 'response.headers'].flatMap((prefix) =>
    SECRET_HEADERS.map((h) => `${prefix}${bracket(h)}`),
  ),
  ...['body', 'req.body', 'request.body', '*'].flatMap((prefix) => TOKEN_FIELDS.map((f) => `${prefix}.${f}`)),
  ...TOKEN_FIELDS,
];

export interface LoggerOptionsExtra {
  /** Destination (tests capture the stream to check what is written). */
  readonly stream?: DestinationStream;
}

export function createLoggerOptions(
  level: string,
  extra: LoggerOptionsExtra = {},
): FastifyLoggerOptions & LoggerOptions & { stream?: DestinationStream } {
  return {
    level,
    redact: { paths: [...REDACTED_PATHS], censor: '[redacted]' },
    ...(extra.stream ? { stream: extra.stream } : {}),
  };
}
