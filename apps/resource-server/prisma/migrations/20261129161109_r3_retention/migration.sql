-- AlterTable
-- Rows stored before retention existed get the default retention (24 h) after their creation.
ALTER TABLE "r3_document" ADD COLUMN     "retain_until" TIMESTAMPTZ(3);
UPDATE "r3_document" SET "retain_until" = "created_at" + INTERVAL '1 day';
ALTER TABLE "r3_document" ALTER COLUMN "retain_until" SET NOT NULL;

-- CreateIndex
CREATE INDEX "r3_document_retain_until_idx" ON "r3_document"("retain_until");
