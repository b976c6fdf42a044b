import { randomBytes } from 'node:crypto';
import {
  type AuthTokenClaims,
  type Clock,
  computeR3S256,
  decideR3Enforcement,
  encodeR3Document,
  Forbidden,
  findR3ParameterMismatch,
  InvalidScope,
  NotFound,
  parseR3Document,
  parseR3Operations,
  type R3Document,
  R3Error,
  type R3Operations,
  unionR3Operations,
} from '@aauth-ref/core';
import { LRUCache } from 'lru-cache';
import { splitScope } from '../scopes.js';
import type { Note, NoteStore } from './ports.js';
import { type DemoOperation, findDemoOperation, operationEntry, R3_VOCABULARY_PATHS } from './r3-catalog.js';

/**
 * R3 at the demo resource (draft-hardt-aauth-r3): validating `r3_operations` against its own
 * definitions (§Operation Validation), composing and persisting content-addressed documents
 * (§Operations Spanning Multiple Definitions, §Content Addressing), serving them only to the parties
 * entitled (§R3 Document Access Restriction), deciding calls from `r3_granted`/`r3_per_call`
 * (§Resource Enforcement, §Grant Enforcement), and per-call proposals bound on retry and run at most
 * once (§Per-Call Proposals). Plain data in and out.
 */

export const R3_DOCUMENT_PATH = '/r3';

export type R3DocumentKind = 'class' | 'proposal';

export interface R3Execution<T> {
  /** Whether this call ran it; `false` when it had already run (`by` says under which token). */
  readonly executed: boolean;
  readonly by: { readonly iss: string; readonly jti: string };
  readonly expiresAt: Date;
  readonly result: { readonly status: number; readonly body: T };
}

export interface R3Store {
  /** Stores a document, or extends the retention of the one stored under its hash. */
  putDocument(input: {
    s256: string;
    bytes: Uint8Array;
    kind: R3DocumentKind;
    at: Date;
    retainUntil: Date;
  }): Promise<void>;
  /** Records readers of a document and extends its retention to at least `retainUntil`. */
  entitle(input: { s256: string; parties: readonly string[]; at: Date; retainUntil: Date }): Promise<void>;
  findDocument(s256: string): Promise<{ bytes: Uint8Array; kind: string } | undefined>;
  /**
   * Whether a proposal is still stored (`undefined` once purged) and the per-call auth token that
   * consumed it, if one did.
   */
  findProposalUse(
    s256: string,
  ): Promise<{ execution?: { iss: string; jti: string; expiresAt: Date } } | undefined>;
  isReader(s256: string, party: string): Promise<boolean>;
  /**
   * Runs `run` in a transaction unless the proposal was consumed already (then its stored result),
   * extending the proposal's retention to `expiresAt`; `undefined` when the proposal is no longer
   * stored (nothing runs).
   */
  executeOnce<T>(
    claim: { authIss: string; authJti: string; r3S256: string; expiresAt: Date; at: Date },
    run: (notes: NoteStore) => Promise<{ status: number; body: T }>,
  ): Promise<R3Execution<T> | undefined>;
}

/** `r3_uri`/`r3_s256` of a persisted document. */
export interface R3Reference {
  readonly r3_uri: string;
  readonly r3_s256: string;
}

/** What one request invokes, in the vocabulary it arrived in. */
export interface R3Call {
  readonly vocabulary: string;
  readonly operations: readonly DemoOperation[];
  /** The concrete parameters of the call (MCP `arguments`, the REST path/body members). */
  readonly parameters: Readonly<Record<string, unknown>>;
}

/** §Resource Enforcement for an auth token that carries R3 claims. */
export type R3Decision =
  /** Step 1: every operation is in `r3_granted`. */
  | { readonly kind: 'serve' }
  /** A per-call auth token for this very call (parameters matched): run it once. */
  | { readonly kind: 'execute'; readonly r3_s256: string; readonly operation: DemoOperation }
  /** Step 2: challenge with a per-call proposal for this call. */
  | { readonly kind: 'propose'; readonly operation: DemoOperation }
  /** Step 3: not granted; a step-up challenge naming what is held plus what is needed. */
  | { readonly kind: 'step_up'; readonly operations: readonly DemoOperation[] };

export interface R3ServiceDeps {
  readonly issuer: string;
  readonly clock: Clock;
  readonly store: R3Store;
  readonly noteStore: NoteStore;
  /**
   * How long a document is kept after the last token naming it expires (`R3_RETENTION_SECONDS`); the
   * retention sweeper deletes it then (`stores/r3-retention.ts`).
   */
  readonly retentionSeconds: number;
}

export interface ProposalContext {
  readonly person: { readonly iss: string; readonly sub: string };
  readonly notebook: string;
  readonly account?: string;
}

/** Longest note excerpt a proposal shows the person. */
const EXCERPT_LENGTH = 200;
/** A string parameter longer than this is carried as a digest object (R3 §Large and Sensitive Payloads). */
export const DIGEST_PARAMETER_THRESHOLD = 256;

/**
 * The proposal's `parameters`: inline values, except long strings, which become
 * `{s256, excerpt, media_type}` so the bytes stay between the agent and the resource; the retry is
 * then checked by `BASE64URL(SHA-256(UTF-8 bytes))` (R3 §Per-Call Proposals, Flow step 3).
 */
function proposalParameters(parameters: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(parameters).map(([name, value]) => [
      name,
      typeof value === 'string' && value.length > DIGEST_PARAMETER_THRESHOLD
        ? { s256: computeR3S256(value), excerpt: `${value.slice(0, 80)}…`, media_type: 'text/plain' }
        : value,
    ]),
  );
}

function quote(text: string): string {
  const excerpt = text.length > EXCERPT_LENGTH ? `${text.slice(0, EXCERPT_LENGTH)}…` : text;
  return excerpt
    .split('\n')
    .map((line) => `> ${line}`)
    .join('\n');
}

export function createR3Service(deps: R3ServiceDeps) {
  const { issuer, clock, store } = deps;
  const vocabularies = Object.keys(R3_VOCABULARY_PATHS);

  /** The same per-call auth token, within the time its result is retained (its `exp`). */
  function sameExecution(
    done: { iss: string; jti: string; expiresAt: Date },
    auth: { iss: string; jti: string },
  ) {
    return done.iss === auth.iss && done.jti === auth.jti && clock.now() < done.expiresAt.getTime();
  }

  function alreadyUsed(): Forbidden {
    return new Forbidden('This per-call approval has already been used for the call it approved.');
  }

  function noLongerRetained(): Forbidden {
    return new Forbidden('This per-call approval is no longer retained; make the call again for a new one.');
  }

  function uriOf(s256: string): string {
    return `${issuer}${R3_DOCUMENT_PATH}/${s256}`;
  }

  function retainedUntil(epochSeconds: number): Date {
    return new Date((epochSeconds + deps.retentionSeconds) * 1000);
  }

  async function persist(document: R3Document, kind: R3DocumentKind): Promise<R3Reference> {
    // §Content Addressing: serialized once; the stored bytes are what every fetch receives. A class
    // document is a function of its operations and account, so one purged is rebuilt byte-identical.
    const encoded = encodeR3Document(document, { vocabularies, proposal: kind === 'proposal' });
    const now = clock.now();
    await store.putDocument({
      s256: encoded.s256,
      bytes: encoded.bytes,
      kind,
      at: new Date(now),
      // Until `entitle` names the token that references it: a document never referenced goes soon.
      retainUntil: retainedUntil(Math.floor(now / 1000)),
    });
    return { r3_uri: uriOf(encoded.s256), r3_s256: encoded.s256 };
  }

  /**
   * `r3_operations` of an authorization request (R3 §Authorization Endpoint Extensions): a vocabulary
   * this resource advertises and operations it defines. Throws `InvalidRequest` (malformed, or a
   * vocabulary not in `r3_vocabularies`) or `InvalidScope` (an unknown operation, docs/spec-decisions.md).
   */
  function parseRequestedOperations(value: unknown): { vocabulary: string; operations: DemoOperation[] } {
    const requested: R3Operations = parseR3Operations(value, { vocabularies, member: 'r3_operations' });
    const operations: DemoOperation[] = [];
    const unknown: string[] = [];
    for (const entry of requested.operations) {
      const op = findDemoOperation(requested.vocabulary, entry);
      if (op === undefined) unknown.push(JSON.stringify(entry));
      else operations.push(op);
    }
    if (unknown.length > 0) {
      throw new InvalidScope(
        `r3_operations names operations this resource does not define: ${unknown.join(', ')}.`,
        {
          cause: new R3Error('unknown_operation', 'unknown operation'),
        },
      );
    }
    return { vocabulary: requested.vocabulary, operations };
  }

  /**
   * One document covering `operations` (R3 §Operations Spanning Multiple Definitions): the union of
   * the operations, and `display` merged from each operation's own. The same combination hashes the
   * same, so it is stored once and reused.
   */
  function classDocument(vocabulary: string, operations: readonly DemoOperation[], account?: string) {
    const unique = [...new Map(operations.map((op) => [op.operationId, op])).values()];
    const where = account === undefined ? 'your personal notebook' : `your ${account} notebook`;
    const join = (values: (string | undefined)[]) =>
      values.filter((v) => v !== undefined).join(' ') || undefined;
    const implications = join(unique.map((op) => op.display.implications));
    const dataAccessed = join(unique.map((op) => op.display.data_accessed));
    const irreversible = join(unique.map((op) => op.display.irreversible));
    const document: R3Document = {
      vocabulary,
      operations: unionR3Operations(
        vocabulary,
        unique.map((op) => operationEntry(vocabulary, op)),
      ),
      ...(account === undefined ? {} : { account }),
      display: {
        summary: `${unique.map((op) => op.display.summary).join('; ')} (${where})`,
        ...(implications === undefined ? {} : { implications }),
        ...(dataAccessed === undefined ? {} : { data_accessed: dataAccessed }),
        ...(irreversible === undefined ? {} : { irreversible }),
      },
    };
    return persist(document, 'class');
  }

  async function findNote(context: ProposalContext, id: unknown): Promise<Note | undefined> {
    if (typeof id !== 'string') return undefined;
    const notes = await deps.noteStore.list(context.person, context.notebook, 100);
    return notes.find((note) => note.id === id);
  }

  /**
   * A per-call proposal for one call (R3 §Proposal Document): the operation, the call's parameters
   * as given, and what the resource knows the call will do. A random call reference in `detail` makes
   * two identical calls two proposals, so consuming one never answers the other.
   */
  async function proposal(
    vocabulary: string,
    op: DemoOperation,
    parameters: Readonly<Record<string, unknown>>,
    context: ProposalContext,
  ): Promise<R3Reference> {
    const reference = randomBytes(6).toString('base64url');
    const notebook = context.notebook;
    let summary: string;
    const sections: string[] = [];
    switch (op.operationId) {
      case 'deleteNote': {
        const note = await findNote(context, parameters.id);
        summary = `Delete one note from your ${notebook} notebook`;
        sections.push('## Action\nDelete a note permanently');
        sections.push(`## Details\nNotebook: ${notebook}\n\nNote id: \`${String(parameters.id)}\``);
        sections.push(
          note === undefined
            ? '## Content\nThis notebook holds no note with this id; the call will change nothing.'
            : `## Content\nCreated ${note.created_at}:\n\n${quote(note.text)}`,
        );
        sections.push('## Irreversible\nA deleted note cannot be recovered.');
        break;
      }
      case 'createNote':
        summary = `Add a note to your ${notebook} notebook`;
        sections.push('## Action\nAdd a note');
        sections.push(`## Details\nNotebook: ${notebook}`);
        if (typeof parameters.text === 'string') sections.push(`## Content\n${quote(parameters.text)}`);
        break;
      case 'listNotes':
        summary = `Read the notes in your ${notebook} notebook`;
        sections.push(`## Action\nRead every note in the ${notebook} notebook`);
        break;
    }
    sections.push(`Call reference: \`${reference}\``);
    const document: R3Document = {
      vocabulary,
      operations: [operationEntry(vocabulary, op)],
      parameters: proposalParameters(parameters),
      ...(context.account === undefined ? {} : { account: context.account }),
      display: {
        summary,
        ...(op.display.irreversible === undefined ? {} : { irreversible: op.display.irreversible }),
        detail: sections.join('\n\n'),
      },
    };
    return persist(document, 'proposal');
  }

  /**
   * Records who may fetch a document — the `aud` and `ps` of a resource token naming it — and keeps
   * the document until that token's `exp` (`tokenExp`, epoch seconds) plus the retention.
   */
  async function entitle(s256: string, parties: readonly string[], tokenExp: number): Promise<void> {
    await store.entitle({
      s256,
      parties,
      at: new Date(clock.now()),
      retainUntil: retainedUntil(tokenExp),
    });
  }

  /**
   * The exact bytes of a document, for a signer already authenticated by `jwks_uri`. Throws
   * `NotFound` (no such document) or `Forbidden` (a signer the draft does not entitle).
   */
  async function readDocument(s256: string, signer: string): Promise<Uint8Array> {
    const found = await store.findDocument(s256);
    if (found === undefined) throw new NotFound('No R3 document with this hash.');
    if (!(await store.isReader(s256, signer))) {
      throw new Forbidden(
        'Only the access server or Person Server named by a resource token for it may fetch it.',
      );
    }
    return found.bytes;
  }

  /**
   * Documents are immutable under their hash, so what `r3_s256` names is remembered per instance
   * (bounded): a request with an R3 auth token costs no query for it after the first. Absence is
   * remembered as "not a proposal" too: a proposal is stored before any token can name it (its hash
   * has a random call reference), so a hash absent once never becomes a proposal later — and a token
   * naming a document purged after its retention still costs no query per request.
   */
  const known = new LRUCache<string, { proposal: R3Document | null }>({ max: 10_000 });

  /** The proposal `s256` names, if it is one of ours (a per-call auth token references one). */
  async function loadProposal(s256: string | undefined): Promise<R3Document | undefined> {
    if (s256 === undefined) return undefined;
    const cached = known.get(s256);
    if (cached !== undefined) return cached.proposal ?? undefined;
    const found = await store.findDocument(s256);
    const proposal =
      found?.kind === 'proposal' ? parseR3Document(found.bytes, { proposal: true }).document : null;
    known.set(s256, { proposal });
    return proposal ?? undefined;
  }

  /**
   * §Resource Enforcement / §Grant Enforcement for an auth token carrying R3 claims.
   * - A token whose `r3_s256` names one of our proposals is a per-call auth token: it authorizes that
   *   one call only — its operation, in its vocabulary, with its parameters and account (Flow step 3,
   *   else `403 forbidden`), once (Flow step 4).
   * - Any other token serves the operations in its `r3_granted`, except those this resource approves
   *   per call, which like those in `r3_per_call` get a proposal (step 2); anything else is a step-up.
   */
  async function decide(claims: AuthTokenClaims, call: R3Call): Promise<R3Decision> {
    const { vocabulary } = call;
    const proposal = await loadProposal(claims.r3_s256);
    const proposed =
      proposal !== undefined && proposal.vocabulary === vocabulary
        ? findDemoOperation(vocabulary, proposal.operations[0]!)
        : undefined;
    const missing: DemoOperation[] = [];
    let perCall: DemoOperation | undefined;
    let approved: DemoOperation | undefined;
    for (const op of call.operations) {
      const verdict = decideR3Enforcement(claims, vocabulary, operationEntry(vocabulary, op));
      if (proposal !== undefined && op === proposed && verdict === 'granted') approved = op;
      else if (op.perCall || verdict === 'per_call') perCall = op;
      else if (verdict === 'none' || proposal !== undefined) missing.push(op);
    }
    if (missing.length > 0) {
      const held =
        proposal === undefined && claims.r3_granted?.vocabulary === vocabulary
          ? claims.r3_granted.operations
              .map((entry) => findDemoOperation(vocabulary, entry))
              .filter((op): op is DemoOperation => op !== undefined && !op.perCall)
          : [];
      return { kind: 'step_up', operations: [...held, ...missing] };
    }
    if (perCall !== undefined) return { kind: 'propose', operation: perCall };
    if (approved === undefined || proposal === undefined) return { kind: 'serve' };
    // The notebook the proposal described is the one the call acts on.
    if (proposal.account !== claims.account) {
      throw new Forbidden('The per-call auth token names another account than the approved proposal.');
    }
    const mismatch = findR3ParameterMismatch(proposal.parameters ?? {}, call.parameters);
    if (mismatch !== undefined) {
      throw new Forbidden(
        `The call does not match the approved proposal (parameter ${mismatch.name}: ${mismatch.kind}).`,
      );
    }
    // Refused before the call is dispatched (an MCP tool handler would turn it into a tool error).
    const use = await store.findProposalUse(claims.r3_s256!);
    // Purged after its retention (docs/spec-decisions.md): a proposal cached here no longer authorizes.
    if (use === undefined) throw noLongerRetained();
    if (use.execution !== undefined && !sameExecution(use.execution, claims)) throw alreadyUsed();
    return { kind: 'execute', r3_s256: claims.r3_s256!, operation: approved };
  }

  /**
   * Runs an approved per-call invocation at most once (Flow step 4). The same per-call auth token
   * presented again gets the retained result; another token naming a consumed proposal is refused.
   */
  async function executeOnce<T>(
    auth: { iss: string; jti: string; exp: number },
    r3S256: string,
    run: (notes: NoteStore) => Promise<{ status: number; body: T }>,
  ): Promise<{ status: number; body: T }> {
    const execution = await store.executeOnce<T>(
      {
        authIss: auth.iss,
        authJti: auth.jti,
        r3S256,
        expiresAt: new Date(auth.exp * 1000),
        at: new Date(clock.now()),
      },
      run,
    );
    if (execution === undefined) throw noLongerRetained();
    if (execution.executed) return execution.result;
    if (sameExecution({ ...execution.by, expiresAt: execution.expiresAt }, auth)) return execution.result;
    throw alreadyUsed();
  }

  /** Scope values that go with `operations` in a resource token (R3 tokens MAY carry both). */
  function scopesOf(operations: readonly DemoOperation[], held?: string): readonly string[] {
    // The common case on every authorized request: one operation's own (distinct) scopes.
    if (held === undefined && operations.length === 1) return operations[0]!.scopes;
    return [...new Set([...splitScope(held), ...operations.flatMap((op) => op.scopes)])];
  }

  return {
    vocabularies,
    uriOf,
    parseRequestedOperations,
    classDocument,
    proposal,
    entitle,
    readDocument,
    decide,
    executeOnce,
    scopesOf,
  };
}

export type R3Service = ReturnType<typeof createR3Service>;
