import { LRUCache } from 'lru-cache';
import type { PersonTokenLookup, PersonTokenRecord, TokenRecordStore } from '../services/ports.js';
import type { PrismaClient } from './prisma.js';

/** Tokens recorded recently by this instance: a warm request writes nothing. Keyed by attacker input, so bounded. */
const RECENT_MAX = 10_000;

const toDate = (seconds: number) => new Date(seconds * 1000);
const toSeconds = (date: Date) => Math.floor(date.getTime() / 1000);

type PersonRow = {
  iss: string;
  jti: string;
  sub: string;
  missionS256: string | null;
  tenant: string | null;
  exp: Date;
  cnfJkt: string;
};

function personFromRow(row: PersonRow): PersonTokenRecord {
  return {
    iss: row.iss,
    jti: row.jti,
    sub: row.sub,
    ...(row.missionS256 === null ? {} : { mission_s256: row.missionS256 }),
    ...(row.tenant === null ? {} : { tenant: row.tenant }),
    exp: toSeconds(row.exp),
    cnfJkt: row.cnfJkt,
  };
}

const PERSON_SELECT = {
  iss: true,
  jti: true,
  sub: true,
  missionS256: true,
  tenant: true,
  exp: true,
  cnfJkt: true,
} as const;

/** Person and auth token records (`person_token_record`, `auth_token_record`), keyed by `(iss, jti)`. */
export function createPrismaTokenRecordStore(prisma: PrismaClient): TokenRecordStore {
  const recent = new LRUCache<string, true>({ max: RECENT_MAX });
  const issuersSeen = new LRUCache<string, true>({ max: 1_000 });
  const key = (kind: string, iss: string, jti: string) => `${kind}\n${iss}\n${jti}`;

  return {
    async recordPersonToken(record, seenAt) {
      const id = key('p', record.iss, record.jti);
      if (recent.has(id)) return;
      await prisma.personTokenRecord.createMany({
        data: [
          {
            iss: record.iss,
            jti: record.jti,
            sub: record.sub,
            missionS256: record.mission_s256 ?? null,
            tenant: record.tenant ?? null,
            exp: toDate(record.exp),
            cnfJkt: record.cnfJkt,
            seenAt,
          },
        ],
        skipDuplicates: true,
      });
      recent.set(id, true);
      issuersSeen.set(record.iss, true);
    },
    async recordAuthToken(record, seenAt) {
      const id = key('a', record.iss, record.jti);
      if (recent.has(id)) return;
      await prisma.authTokenRecord.createMany({
        data: [
          {
            iss: record.iss,
            jti: record.jti,
            ps: record.ps,
            sub: record.sub,
            scope: record.scope ?? null,
            account: record.account ?? null,
            exp: toDate(record.exp),
            cnfJkt: record.cnfJkt,
            seenAt,
          },
        ],
        skipDuplicates: true,
      });
      recent.set(id, true);
    },
    async findPersonTokenForKey(lookup: PersonTokenLookup) {
      const row = await prisma.personTokenRecord.findFirst({
        where: {
          cnfJkt: lookup.cnfJkt,
          exp: { gt: toDate(lookup.after) },
          ...(lookup.iss === undefined ? {} : { iss: lookup.iss }),
          ...(lookup.sub === undefined ? {} : { sub: lookup.sub }),
        },
        orderBy: [{ exp: 'desc' }, { seenAt: 'desc' }],
        select: PERSON_SELECT,
      });
      return row ? personFromRow(row) : undefined;
    },
    async findPersonToken(iss, jti) {
      const row = await prisma.personTokenRecord.findUnique({
        where: { iss_jti: { iss, jti } },
        select: PERSON_SELECT,
      });
      return row ? personFromRow(row) : undefined;
    },
    async findAuthToken(iss, jti) {
      const row = await prisma.authTokenRecord.findUnique({ where: { iss_jti: { iss, jti } } });
      if (!row) return undefined;
      return {
        iss: row.iss,
        jti: row.jti,
        ps: row.ps,
        sub: row.sub,
        ...(row.scope === null ? {} : { scope: row.scope }),
        ...(row.account === null ? {} : { account: row.account }),
        exp: toSeconds(row.exp),
        cnfJkt: row.cnfJkt,
      };
    },
    async hasPersonTokenFrom(iss) {
      if (issuersSeen.has(iss)) return true;
      const row = await prisma.personTokenRecord.findFirst({ where: { iss }, select: { jti: true } });
      if (row) issuersSeen.set(iss, true);
      return row !== null;
    },
  };
}
