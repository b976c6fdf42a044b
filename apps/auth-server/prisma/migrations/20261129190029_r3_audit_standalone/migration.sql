-- DropForeignKey
ALTER TABLE "r3_audit_record" DROP CONSTRAINT "r3_audit_record_jti_fkey";

-- CreateIndex
CREATE INDEX "r3_audit_record_issued_at_idx" ON "r3_audit_record"("issued_at");
