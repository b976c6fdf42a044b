import { parseList, Token } from 'structured-headers';
import { type HeaderFieldValue, serializeTokenList } from './accept-signature.js';

/**
 * `AAuth-Capabilities` (§AAuth-Capabilities Request Header): a List of Tokens. Recipients ignore
 * unrecognised values and every parameter, and an absent header means no capabilities ("recipients
 * MUST NOT assume any capabilities"). A field that fails to parse is ignored as RFC 8941 §2 says, so
 * it too reads as the empty set: the parser never throws.
 */

export type Capability = 'interaction' | 'clarification' | 'payment';

/** §AAuth Capability Value Registry. */
export const CAPABILITY_VALUES: readonly Capability[] = ['interaction', 'clarification', 'payment'];

const KNOWN: ReadonlySet<string> = new Set(CAPABILITY_VALUES);

export function isCapability(value: unknown): value is Capability {
  return typeof value === 'string' && KNOWN.has(value);
}

/** The recognised capabilities the agent declared; empty when absent or malformed. */
export function parseAAuthCapabilities(value: HeaderFieldValue): ReadonlySet<Capability> {
  const capabilities = new Set<Capability>();
  if (value === undefined) return capabilities;
  let list: ReturnType<typeof parseList>;
  try {
    list = parseList(typeof value === 'string' ? value : value.join(', '));
  } catch {
    return capabilities;
  }
  for (const [bare] of list) {
    if (bare instanceof Token && isCapability(bare.toString()))
      capabilities.add(bare.toString() as Capability);
  }
  return capabilities;
}

/**
 * Serializes the agent's capabilities (its own unioned with those of its PS's mission approval).
 * Values are kept when they are Tokens, recognised or not: a PS may offer one registered after this
 * code was written. Returns `''` for none — omit the header then. Throws `TypeError` for a
 * non-Token value.
 */
export function serializeAAuthCapabilities(capabilities: Iterable<string>): string {
  return serializeTokenList(capabilities, 'AAuth-Capabilities');
}
