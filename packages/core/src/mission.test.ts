import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidRequest } from './errors.js';
import {
  computeMissionS256,
  decodeMission,
  encodeMission,
  isMissionS256,
  verifyMissionApproval,
} from './mission.js';

const blob = JSON.stringify({
  approver: 'https://ps.example',
  agent: 'aauth:assistant@agent.example',
  approved_at: '2026-04-07T14:30:00Z',
  description: '# Plan Japan Vacation',
});

describe('computeMissionS256 (§Mission Identifier)', () => {
  it('is the unpadded base64url SHA-256 of the exact bytes', () => {
    // SHA-256("abc"), FIPS 180-2 example: ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad.
    expect(computeMissionS256('abc')).toBe(
      Buffer.from('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad', 'hex').toString(
        'base64url',
      ),
    );
    expect(computeMissionS256('abc')).toBe('ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0');
  });

  it('hashes bytes, not JSON values: re-serialized JSON is a different mission', () => {
    const spaced = '{ "approver": "https://ps.example" }';
    const compact = JSON.stringify(JSON.parse(spaced));
    expect(computeMissionS256(spaced)).not.toBe(computeMissionS256(compact));
    expect(computeMissionS256(new TextEncoder().encode(spaced))).toBe(computeMissionS256(spaced));
  });
});

describe('isMissionS256', () => {
  it('accepts what computeMissionS256 produces', () => {
    fc.assert(
      fc.property(fc.uint8Array(), (bytes) => {
        expect(isMissionS256(computeMissionS256(bytes))).toBe(true);
      }),
    );
  });

  it.each([
    ['padded', `${computeMissionS256('x')}=`],
    ['42 characters', computeMissionS256('x').slice(0, 42)],
    ['standard base64', 'ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0'],
    ['stray low bits in the last character', 'ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa1'],
    ['not a string', 42],
  ])('rejects %s', (_name, value) => {
    expect(isMissionS256(value)).toBe(false);
  });
});

describe('encodeMission / decodeMission (§Mission Approval `mission` member)', () => {
  it('round-trips the exact bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1 }), (bytes) => {
        const member = encodeMission(bytes);
        expect(member).toMatch(/^[A-Za-z0-9_-]+$/);
        expect(decodeMission(member)).toEqual(bytes);
      }),
    );
  });

  it.each([
    ['padding', `${encodeMission('ab')}==`],
    ['standard base64 characters', '+/+/'],
    ['an impossible length', 'abcde'],
    ['non-canonical trailing bits', 'YR'],
    ['empty', ''],
    ['not a string', 7],
  ])('rejects %s with InvalidRequest', (_name, member) => {
    expect(() => decodeMission(member)).toThrow(InvalidRequest);
  });

  it('never throws anything but InvalidRequest', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (member) => {
        try {
          decodeMission(member);
        } catch (err) {
          expect(err).toBeInstanceOf(InvalidRequest);
        }
      }),
    );
  });
});

describe('verifyMissionApproval (§Mission Approval: "An agent SHOULD verify s256 against the decoded bytes")', () => {
  it('returns the exact bytes and the parsed blob', () => {
    const approval = { s256: computeMissionS256(blob), mission: encodeMission(blob) };
    const verified = verifyMissionApproval(approval);
    expect(verified.s256).toBe(approval.s256);
    expect(new TextDecoder().decode(verified.bytes)).toBe(blob);
    expect(verified.blob).toMatchObject({
      approver: 'https://ps.example',
      agent: 'aauth:assistant@agent.example',
    });
  });

  it('rejects an s256 that does not match', () => {
    const other = blob.replace('Japan', 'Spain');
    expect(() =>
      verifyMissionApproval({ s256: computeMissionS256(other), mission: encodeMission(blob) }),
    ).toThrow('s256 does not match the mission');
  });

  it.each([
    ['a JSON array', '[1,2]'],
    ['JSON null', 'null'],
    ['a JSON string', '"mission"'],
    ['not JSON', '{approver:'],
    ['a UTF-8 BOM before the object', '\uFEFF{}'],
  ])('rejects a blob that is %s', (_name, text) => {
    expect(() =>
      verifyMissionApproval({ s256: computeMissionS256(text), mission: encodeMission(text) }),
    ).toThrow(InvalidRequest);
  });

  it('rejects invalid UTF-8', () => {
    const bytes = Uint8Array.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]);
    expect(() =>
      verifyMissionApproval({ s256: computeMissionS256(bytes), mission: encodeMission(bytes) }),
    ).toThrow(InvalidRequest);
  });

  it('rejects a malformed s256 or mission', () => {
    expect(() => verifyMissionApproval({ s256: 'abc', mission: encodeMission(blob) })).toThrow(
      InvalidRequest,
    );
    expect(() => verifyMissionApproval({ s256: computeMissionS256(blob), mission: undefined })).toThrow(
      InvalidRequest,
    );
  });

  it('round-trips any JSON object', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (object) => {
        const text = JSON.stringify(object);
        const verified = verifyMissionApproval({
          s256: computeMissionS256(text),
          mission: encodeMission(text),
        });
        expect(verified.blob).toEqual(JSON.parse(text));
      }),
    );
  });
});
