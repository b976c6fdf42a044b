import { verify } from 'node:crypto';
import { generateKeyPair, signRequest, systemClock } from '@aauth-ref/core';
import { describe, expect, it } from 'vitest';
import { extractSignatureBytes, minimalSignatureBase } from './signature-base.js';

describe('the limit route’s signature base', () => {
  const key = generateKeyPair('Ed25519', 'k1');
  const sign = (url: string) =>
    signRequest(
      { method: 'GET', url, headers: {} },
      { key, signatureKey: { scheme: 'jwt', jwt: 'eyJhbGciOiJFZERTQSJ9.e30.c2ln' }, clock: systemClock },
    );

  it('reproduces the base core signs, so one Ed25519 verification accepts it', () => {
    const headers = sign('http://localhost:3003/bench/ed25519?x=1');
    const base = minimalSignatureBase(
      'GET',
      'localhost:3003',
      '/bench/ed25519?x=1',
      headers['signature-key'],
      headers['signature-input'],
    );
    expect(verify(null, Buffer.from(base), key.keyObject, extractSignatureBytes(headers.signature))).toBe(
      true,
    );
  });

  it('fails for another path', () => {
    const headers = sign('http://localhost:3003/bench/ed25519');
    const base = minimalSignatureBase(
      'GET',
      'localhost:3003',
      '/other',
      headers['signature-key'],
      headers['signature-input'],
    );
    expect(verify(null, Buffer.from(base), key.keyObject, extractSignatureBytes(headers.signature))).toBe(
      false,
    );
  });
});
