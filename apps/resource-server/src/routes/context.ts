import type { Clock } from '@aauth-ref/core';
import { replyRequirement } from '@aauth-ref/fastify';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ResourceServerConfig } from '../config.js';
import type { AccessService, Challenge, Presented } from '../services/access-service.js';
import type { NotesService } from '../services/notes-service.js';
import type { RevocationService } from '../services/revocation-service.js';

/** What the routes share. */
export interface AppContext {
  readonly config: ResourceServerConfig;
  readonly issuer: string;
  readonly clock: Clock;
  readonly access: AccessService;
  readonly notes: NotesService;
  readonly revocations: RevocationService;
  readonly knownScopes: ReadonlySet<string>;
}

/** The request's verified signer in the services' terms. */
export function presentedOf(request: FastifyRequest): Presented {
  const context = request.aauth;
  if (!context) return null;
  const token = context.token;
  const keyThumbprint = context.keyThumbprint;
  if (!token) return { kind: 'other', keyThumbprint };
  switch (token.kind) {
    case 'agent':
      return {
        kind: 'agent',
        claims: token.claims as Extract<Presented, { kind: 'agent' }>['claims'],
        keyThumbprint,
      };
    case 'person':
      return {
        kind: 'person',
        claims: token.claims as Extract<Presented, { kind: 'person' }>['claims'],
        keyThumbprint,
      };
    default:
      return {
        kind: 'auth',
        claims: token.claims as Extract<Presented, { kind: 'auth' }>['claims'],
        keyThumbprint,
      };
  }
}

/** Answers a challenge decision (`401` with `AAuth-Requirement`). */
export function replyChallenge(reply: FastifyReply, challenge: Challenge) {
  return replyRequirement(reply, challenge.requirement);
}
