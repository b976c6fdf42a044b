import type { Clock, IssuerKeyResolver } from '@aauth-ref/core';
import type { Database } from '@aauth-ref/db';
import {
  type LoginThrottle,
  type PageSessions,
  type RateLimiter,
  replyRequirement,
} from '@aauth-ref/fastify';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ResourceServerConfig } from '../config.js';
import type { AccessService, Challenge, Presented } from '../services/access-service.js';
import type { NotesService } from '../services/notes-service.js';
import type { PendingService } from '../services/pending-service.js';
import type { NoteStore, TokenRecordStore } from '../services/ports.js';
import type { R3Service } from '../services/r3-service.js';
import type { RevocationService } from '../services/revocation-service.js';
import type { SessionTokenService } from '../services/session-tokens.js';
import type { UserStore } from '../stores/prisma-users.js';

/** What the routes share. */
export interface AppContext {
  readonly config: ResourceServerConfig;
  readonly issuer: string;
  readonly clock: Clock;
  /** Other issuers' metadata and keys (this server's own answered locally), e.g. an agent's AP metadata. */
  readonly keys: IssuerKeyResolver;
  readonly access: AccessService;
  readonly notes: NotesService;
  readonly revocations: RevocationService;
  readonly knownScopes: ReadonlySet<string>;
  readonly database: Database;
  readonly noteStore: NoteStore;
  readonly records: TokenRecordStore;
  readonly pending: PendingService;
  /** R3 documents, proposals and grant enforcement (draft-hardt-aauth-r3). */
  readonly r3: R3Service;
  readonly sessionTokens: SessionTokenService;
  /** The resource's own sign-in (resource-managed access). */
  readonly users: UserStore;
  readonly sessions: PageSessions;
  readonly siteName: string;
  readonly loginThrottle: LoginThrottle;
  /** Failed interaction codes, per signed-in user and per client address (§Interaction Code Format). */
  readonly codeAttempts: { readonly perUser: RateLimiter; readonly perAddress: RateLimiter };
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
