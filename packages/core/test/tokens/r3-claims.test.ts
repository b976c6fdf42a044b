import { describe, expect, it } from 'vitest';
import { computeR3S256 } from '../../src/r3/document.js';
import { R3_VOCABULARY_MCP } from '../../src/r3/vocabulary.js';
import { TokenVerificationError } from '../../src/tokens/token-error.js';
import { createWorld, forgeJwt, payloadOf, RS } from './helpers.js';

/** R3 claims on resource and auth tokens, on issue and on verify (draft-hardt-aauth-r3). */

const r3 = { r3_uri: `${RS}/r3/doc`, r3_s256: computeR3S256('doc') };
const granted = { vocabulary: R3_VOCABULARY_MCP, operations: [{ tool: 'create_note' }] };

async function reasonOf(promise: Promise<unknown>): Promise<string> {
  const err = await promise.then(
    () => new Error('verification unexpectedly succeeded'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TokenVerificationError);
  return (err as TokenVerificationError).reason;
}

describe('§Resource Token Extensions: r3_uri and r3_s256, both or neither', () => {
  it('issues and verifies a resource token carrying both', async () => {
    const w = createWorld();
    const token = await w.verifier.verify(w.issue('resource', r3), { kinds: ['resource'] });
    expect(token.claims).toMatchObject(r3);
  });

  it('refuses to issue one of them alone (TypeError)', () => {
    const w = createWorld();
    expect(() => w.issue('resource', { r3_uri: r3.r3_uri })).toThrow(TypeError);
    expect(() => w.issue('resource', { r3_s256: r3.r3_s256 })).toThrow(TypeError);
  });

  it('"MUST include both": a token with one, or a malformed one, fails verification as malformed', async () => {
    const w = createWorld();
    const base = payloadOf(w.issue('resource'));
    for (const extra of [
      { r3_uri: r3.r3_uri },
      { r3_s256: r3.r3_s256 },
      { ...r3, r3_s256: 'not-a-hash' },
      { ...r3, r3_uri: 'http://resource.example/r3/doc' },
    ]) {
      const jwt = forgeJwt(
        { alg: 'Ed25519', typ: 'aa-resource+jwt', kid: 'rs-1' },
        { ...base, ...extra },
        w.signers.rs,
      );
      expect(await reasonOf(w.verifier.verify(jwt, { kinds: ['resource'] }))).toBe('malformed');
    }
    expect(w.resolver.calls).toHaveLength(0);
  });
});

describe('§Auth Token Extensions: r3_uri, r3_s256, r3_granted, r3_per_call', () => {
  it('issues and verifies an auth token with R3 grants', async () => {
    const w = createWorld();
    const jwt = w.issue('auth', {
      ...r3,
      r3_granted: granted,
      r3_per_call: { vocabulary: R3_VOCABULARY_MCP, operations: [{ tool: 'delete_note' }] },
    });
    const token = await w.verifier.verify(jwt, { kinds: ['auth'] });
    expect(token.claims.r3_granted).toEqual(granted);
  });

  it('rejects grants without the document reference, a reference without r3_granted, malformed grants', async () => {
    const w = createWorld();
    const base = payloadOf(w.issue('auth'));
    for (const extra of [
      { r3_granted: granted },
      { ...r3 },
      { ...r3, r3_granted: { vocabulary: R3_VOCABULARY_MCP, operations: [{ name: 'x' }] } },
      { ...r3, r3_granted: granted, r3_per_call: 'delete_note' },
    ]) {
      expect(() => w.issue('auth', extra as never)).toThrow(TypeError);
      const jwt = forgeJwt(
        { alg: 'Ed25519', typ: 'aa-auth+jwt', kid: 'as-1' },
        { ...base, ...extra },
        w.signers.as,
      );
      expect(await reasonOf(w.verifier.verify(jwt, { kinds: ['auth'] }))).toBe('malformed');
    }
  });
});
