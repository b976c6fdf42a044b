import { Forbidden, R3_VOCABULARY_OPENAPI } from '@aauth-ref/core';
import { DEFAULT_NOTEBOOK } from '../scopes.js';
import type { AccessService, AuthDecision, Challenge, Presented } from './access-service.js';
import type { AuthTokenRecord, PersonRef } from './ports.js';
import { type DemoOperation, demoOperationById } from './r3-catalog.js';
import type { R3Call, R3Reference, R3Service } from './r3-service.js';

/**
 * The access decision of an R3-governed call (R3 §Resource Enforcement), on top of the scope
 * decision every route already takes:
 * - an auth token carrying R3 claims is enforced from `r3_granted`/`r3_per_call` alone;
 * - anything else takes the scope path, and its challenge's resource token references an R3
 *   document — a per-call proposal when the call is one the resource approves per call, the
 *   composed class document of the call's operations otherwise. A scope-only auth token with the
 *   scope is served as before (an issuer that does not implement R3; docs/spec-decisions.md).
 */

export interface R3AccessGranted {
  readonly granted: true;
  readonly person: PersonRef;
  readonly notebook: string;
  readonly auth: AuthTokenRecord;
  /** Set when the token is a per-call auth token for this call: run it through `executeOnce`. */
  readonly perCall?: { readonly r3_s256: string; readonly operation: DemoOperation };
}

export type R3AccessDecision = R3AccessGranted | Challenge;

function proposalOperation(call: R3Call): DemoOperation | undefined {
  return call.operations.find((op) => op.perCall);
}

export async function requireR3Call(
  access: AccessService,
  r3: R3Service,
  presented: Presented,
  call: R3Call,
): Promise<R3AccessDecision> {
  if (presented?.kind === 'auth' && presented.claims.r3_uri !== undefined) {
    const auth = await access.acceptAuthToken(presented);
    const notebook = auth.account ?? DEFAULT_NOTEBOOK;
    const person = { iss: auth.ps, sub: auth.sub };
    const decision = await r3.decide(presented.claims, call);
    switch (decision.kind) {
      case 'serve':
        return { granted: true, person, notebook, auth };
      case 'execute':
        return {
          granted: true,
          person,
          notebook,
          auth,
          perCall: { r3_s256: decision.r3_s256, operation: decision.operation },
        };
      case 'propose': {
        const ref = await r3.proposal(call.vocabulary, decision.operation, call.parameters, {
          person,
          notebook,
          ...(auth.account === undefined ? {} : { account: auth.account }),
        });
        return access.challengeAuthToken(presented.keyThumbprint, auth, {
          scopes: r3.scopesOf([decision.operation]),
          ...(auth.account === undefined ? {} : { account: auth.account }),
          r3: ref,
        });
      }
      case 'step_up': {
        const ref = await r3.classDocument(call.vocabulary, decision.operations, auth.account);
        return access.challengeAuthToken(presented.keyThumbprint, auth, {
          scopes: r3.scopesOf(decision.operations),
          ...(auth.account === undefined ? {} : { account: auth.account }),
          r3: ref,
        });
      }
    }
  }
  const perCall = proposalOperation(call);
  const scopes = r3.scopesOf(call.operations);
  const decision: AuthDecision = await access.requireAuthToken(presented, scopes, {
    r3: ({ person, account }): Promise<R3Reference> =>
      perCall === undefined
        ? r3.classDocument(call.vocabulary, call.operations, account)
        : r3.proposal(call.vocabulary, perCall, call.parameters, {
            person,
            notebook: account ?? DEFAULT_NOTEBOOK,
            ...(account === undefined ? {} : { account }),
          }),
  });
  if (!decision.granted) return decision;
  return { granted: true, person: decision.person, notebook: decision.notebook, auth: decision.auth };
}

const LIST_NOTES = demoOperationById('listNotes');

/**
 * The decision of an auth-token route that reads what `listNotes` reads — the token's own person and
 * notebook (`/api/whoami`), the notebook's notes (`/api/journal`'s three-party fallback), the
 * downstream notes of the same person (`/chain/notes`): the same as `GET /api/notes` (R3 §Grant
 * Enforcement, docs/spec-decisions.md). A scope-only token needs `notes.read`; an R3 token needs
 * `listNotes` in `r3_granted` (OpenAPI vocabulary), else a step-up; challenges reference its class
 * document. A per-call auth token approved a call to `GET /api/notes` only, so it is refused here.
 * Warm, this costs no database statement beyond the scope path's (the proposal lookup is cached).
 */
export async function requireNotesRead(
  access: AccessService,
  r3: R3Service,
  presented: Presented,
): Promise<R3AccessDecision> {
  const decision = await requireR3Call(access, r3, presented, {
    vocabulary: R3_VOCABULARY_OPENAPI,
    operations: [LIST_NOTES],
    parameters: {},
  });
  if (decision.granted && decision.perCall !== undefined) {
    throw new Forbidden('A per-call auth token authorizes only the call it was proposed for.');
  }
  return decision;
}
