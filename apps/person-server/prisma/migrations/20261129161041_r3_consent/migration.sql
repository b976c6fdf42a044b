-- AlterTable
ALTER TABLE "scope_consent" ADD COLUMN     "r3_granted" JSONB,
ADD COLUMN     "r3_per_call" JSONB,
ADD COLUMN     "r3_s256" TEXT;
