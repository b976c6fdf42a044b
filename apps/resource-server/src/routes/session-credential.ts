import { InvalidRequest, parseAuthorizationAAuth, SignatureInvalidRequest } from '@aauth-ref/core';
import type { FastifyRequest } from 'fastify';
import type { Presented } from '../services/access-service.js';
import type { SessionSigner } from '../services/session-tokens.js';

/** The signer a session token is checked against: the key, plus the agent identity of an agent token. */
export function sessionSignerOf(presented: NonNullable<Presented>): SessionSigner {
  return presented.kind === 'agent'
    ? {
        keyThumbprint: presented.keyThumbprint,
        agent: { iss: presented.claims.iss, sub: presented.claims.sub },
      }
    : { keyThumbprint: presented.keyThumbprint };
}

/**
 * The session token of `Authorization: AAuth <token68>` (§AAuth-Access Response Header), or
 * `undefined` when the request carries none. "Recipients MUST reject empty values, values containing
 * embedded whitespace or control characters, and responses carrying more than one credential": each
 * is `401 Signature-Error: invalid_request`. Node keeps only the first of repeated `Authorization`
 * fields in `headers`, so repeats are counted in the raw header list.
 */
export function readSessionCredential(request: FastifyRequest): string | undefined {
  const raw = request.raw.rawHeaders;
  let fields = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === 'authorization') fields++;
  if (fields > 1) throw new SignatureInvalidRequest('The request carries more than one Authorization field.');
  try {
    return parseAuthorizationAAuth(request.headers.authorization);
  } catch (err) {
    if (err instanceof InvalidRequest) throw new SignatureInvalidRequest(err.detail, { cause: err });
    throw err;
  }
}
