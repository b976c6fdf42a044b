import { R3_VOCABULARY } from '@aauth-ref/core';
import { describe, expect, it } from 'vitest';
import type { ScopeConsentRecord } from '../../src/services/ports.js';
import { type R3Plan, rememberedR3Decision, rememberR3 } from '../../src/services/r3-consent.js';

/** Remembered R3 class decisions (docs/spec-decisions.md): by `r3_s256`, never for a proposal. */

const S256 = 'a'.repeat(43);
const plan: R3Plan = {
  r3_uri: `https://notes.example/r3/${S256}`,
  r3_s256: S256,
  vocabulary: R3_VOCABULARY.mcp,
  operations: [{ tool: 'create_note' }, { tool: 'delete_note' }],
  proposal: false,
};
const consent = (r3: ScopeConsentRecord['r3'], missionS256: string | null = null): ScopeConsentRecord => ({
  scope: '',
  missionS256,
  ...(r3 === undefined ? {} : { r3 }),
});
const both = { r3S256: S256, granted: [{ tool: 'create_note' }], perCall: [{ tool: 'delete_note' }] };

describe('rememberedR3Decision', () => {
  it('gives the stored decision for the same hash, in document order', () => {
    expect(rememberedR3Decision(plan, [consent(both)], undefined)).toEqual({
      granted: [{ tool: 'create_note' }],
      perCall: [{ tool: 'delete_note' }],
    });
  });

  it('matches operations by JSON value, not member order', () => {
    const op = { tool: 'x', extra: { a: 1, b: 2 } };
    const reordered = { extra: { b: 2, a: 1 }, tool: 'x' };
    const p = { ...plan, operations: [op] };
    expect(
      rememberedR3Decision(p, [consent({ r3S256: S256, granted: [reordered], perCall: [] })], undefined),
    ).toEqual({ granted: [op], perCall: [] });
  });

  it('asks for another hash, an operation not allowed, a proposal, or another mission', () => {
    const other = { ...both, r3S256: 'b'.repeat(43) };
    expect(rememberedR3Decision(plan, [consent(other)], undefined)).toBeUndefined();
    const onlyCreate = { r3S256: S256, granted: [{ tool: 'create_note' }], perCall: [] };
    expect(rememberedR3Decision(plan, [consent(onlyCreate)], undefined)).toBeUndefined();
    expect(rememberedR3Decision({ ...plan, proposal: true }, [consent(both)], undefined)).toBeUndefined();
    expect(rememberedR3Decision(plan, [consent(both, 'm1')], 'm2')).toBeUndefined();
    expect(rememberedR3Decision(plan, [consent(both, 'm1')], 'm1')).toBeDefined();
    expect(rememberedR3Decision(plan, [consent(undefined)], undefined)).toBeUndefined();
  });

  it('per call wins where two decisions differ', () => {
    const granted = { r3S256: S256, granted: plan.operations, perCall: [] };
    expect(rememberedR3Decision(plan, [consent(granted), consent(both)], undefined)).toEqual({
      granted: [{ tool: 'create_note' }],
      perCall: [{ tool: 'delete_note' }],
    });
  });
});

describe('rememberR3', () => {
  it('remembers a class document, never a per-call proposal (§Per-Call Proposals)', () => {
    const decision = { granted: [{ tool: 'create_note' }], perCall: [] };
    expect(rememberR3(plan, decision)).toEqual({ r3S256: S256, ...decision });
    expect(rememberR3({ ...plan, proposal: true }, decision)).toBeUndefined();
  });
});
