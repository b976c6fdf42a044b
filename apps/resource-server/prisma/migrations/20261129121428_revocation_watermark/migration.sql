-- AlterTable
ALTER TABLE "revocation" ADD COLUMN     "recorded_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP;

-- CreateIndex
CREATE INDEX "revocation_recorded_at_idx" ON "revocation"("recorded_at");
