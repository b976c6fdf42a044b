import { type KeyObject, sign, verify } from 'node:crypto';

/** The node:crypto costs an issuance bound is made of, µs per operation, measured on this core. */
export interface CryptoCosts {
  readonly verifyUs: number;
  readonly signUs: number;
}

/**
 * µs per Ed25519 verification and per signing with the server's own key over `message` (a token-sized
 * text), measured in the server's process so the bound sees the same core and load as the requests.
 */
export function measureCryptoCosts(
  keys: { readonly privateKey: KeyObject; readonly keyObject: KeyObject },
  message: Buffer,
  iterations = 3000,
): CryptoCosts {
  const { privateKey, keyObject: publicKey } = keys;
  const signature = sign(null, message, privateKey);
  for (let i = 0; i < 200; i++) verify(null, message, publicKey, signature);
  let started = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) verify(null, message, publicKey, signature);
  const verifyUs = Number(process.hrtime.bigint() - started) / 1000 / iterations;
  started = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) sign(null, message, privateKey);
  const signUs = Number(process.hrtime.bigint() - started) / 1000 / iterations;
  return { verifyUs, signUs };
}
