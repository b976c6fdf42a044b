import type { PersonTokenRecord, TokenRecordStore } from './ports.js';

/**
 * The person tokens a new resource token may name (§Resource Access and Resource Tokens: only a person
 * token verified earlier for this key): recorded, unexpired, and not revoked. A revoked person token
 * stays in the record store — revocation needs to find it again — but is never named again, so an agent
 * whose person token was revoked is asked for a new one (`requirement=person-token`), not handed a
 * resource token its PS would refuse.
 */
export function withoutRevokedPersonTokens(
  records: TokenRecordStore,
  revocations: { isRevoked(iss: string, jti: string): Promise<boolean> },
): TokenRecordStore {
  async function usable(record: PersonTokenRecord | undefined): Promise<PersonTokenRecord | undefined> {
    if (record === undefined) return undefined;
    return (await revocations.isRevoked(record.iss, record.jti)) ? undefined : record;
  }
  return {
    recordPersonToken: (record, seenAt) => records.recordPersonToken(record, seenAt),
    recordAuthToken: (record, seenAt) => records.recordAuthToken(record, seenAt),
    findAuthToken: (iss, jti) => records.findAuthToken(iss, jti),
    findPersonToken: async (iss, jti) => usable(await records.findPersonToken(iss, jti)),
    findPersonTokenForKey: async (lookup) => usable(await records.findPersonTokenForKey(lookup)),
    hasPersonTokenFrom: (iss) => records.hasPersonTokenFrom(iss),
  };
}
