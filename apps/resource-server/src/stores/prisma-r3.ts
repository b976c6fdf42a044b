import type { Prisma } from '../generated/prisma/client.js';
import type { NoteStore } from '../services/ports.js';
import type { R3Store } from '../services/r3-service.js';
import type { PrismaClient } from './prisma.js';
import { createPrismaNoteStore } from './prisma-notes.js';

/** R3 documents by hash, their entitled readers, and per-call executions (docs/spec-decisions.md). */
export function createPrismaR3Store(prisma: PrismaClient): R3Store {
  return {
    async putDocument({ s256, bytes, kind, at, retainUntil }) {
      // Content-addressed: the same bytes under the same hash, so a stored row only has its retention
      // extended (never shortened) — and a purge racing the `entitle` that follows cannot remove it.
      await prisma.$executeRaw`
        INSERT INTO "r3_document" ("s256", "bytes", "kind", "created_at", "retain_until")
        VALUES (${s256}, ${Buffer.from(bytes)}, ${kind}, ${at}, ${retainUntil})
        ON CONFLICT ("s256") DO UPDATE SET "retain_until" = EXCLUDED."retain_until"
        WHERE "r3_document"."retain_until" < EXCLUDED."retain_until"`;
    },
    async entitle({ s256, parties, at, retainUntil }) {
      await prisma.$transaction([
        prisma.r3Document.updateMany({
          where: { s256, retainUntil: { lt: retainUntil } },
          data: { retainUntil },
        }),
        prisma.r3DocumentReader.createMany({
          data: [...new Set(parties)].map((party) => ({ s256, party, createdAt: at })),
          skipDuplicates: true,
        }),
      ]);
    },
    async findDocument(s256) {
      const row = await prisma.r3Document.findUnique({
        where: { s256 },
        select: { bytes: true, kind: true },
      });
      return row === null ? undefined : { bytes: new Uint8Array(row.bytes), kind: row.kind };
    },
    async findProposalUse(s256) {
      const rows = await prisma.$queryRaw<
        { auth_iss: string | null; auth_jti: string | null; expires_at: Date | null }[]
      >`
        SELECT e."auth_iss", e."auth_jti", e."expires_at"
        FROM "r3_document" AS d LEFT JOIN "r3_per_call_execution" AS e ON e."r3_s256" = d."s256"
        WHERE d."s256" = ${s256} AND d."kind" = 'proposal'`;
      const row = rows[0];
      if (row === undefined) return undefined;
      return row.auth_iss === null || row.auth_jti === null || row.expires_at === null
        ? {}
        : { execution: { iss: row.auth_iss, jti: row.auth_jti, expiresAt: row.expires_at } };
    },
    async isReader(s256, party) {
      const row = await prisma.r3DocumentReader.findUnique({
        where: { s256_party: { s256, party } },
        select: { s256: true },
      });
      return row !== null;
    },
    async executeOnce<T>(
      claim: { authIss: string; authJti: string; r3S256: string; expiresAt: Date; at: Date },
      run: (notes: NoteStore) => Promise<{ status: number; body: T }>,
    ) {
      return prisma.$transaction(async (tx) => {
        // The proposal is kept at least as long as the result answered to this token (Flow step 4);
        // a proposal no longer stored is not run (its retention, and so every token for it, is over).
        const kept = await tx.$executeRaw`
          UPDATE "r3_document" SET "retain_until" = GREATEST("retain_until", ${claim.expiresAt})
          WHERE "s256" = ${claim.r3S256} AND "kind" = 'proposal' AND "retain_until" > ${claim.at}`;
        if (kept === 0) return undefined;
        // ON CONFLICT DO NOTHING waits for a concurrent holder of the proposal, then sees its row.
        const { count } = await tx.r3PerCallExecution.createMany({
          data: [
            {
              r3S256: claim.r3S256,
              authIss: claim.authIss,
              authJti: claim.authJti,
              status: 0,
              body: {},
              expiresAt: claim.expiresAt,
              createdAt: claim.at,
            },
          ],
          skipDuplicates: true,
        });
        if (count === 0) {
          const row = await tx.r3PerCallExecution.findUniqueOrThrow({ where: { r3S256: claim.r3S256 } });
          return {
            executed: false,
            by: { iss: row.authIss, jti: row.authJti },
            expiresAt: row.expiresAt,
            result: { status: row.status, body: row.body as T },
          };
        }
        const result = await run(createPrismaNoteStore(tx));
        await tx.r3PerCallExecution.update({
          where: { r3S256: claim.r3S256 },
          data: { status: result.status, body: result.body as unknown as Prisma.InputJsonValue },
        });
        return {
          executed: true,
          by: { iss: claim.authIss, jti: claim.authJti },
          expiresAt: claim.expiresAt,
          result,
        };
      });
    },
  };
}
