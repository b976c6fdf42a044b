-- AlterTable
ALTER TABLE "resource_policy" ADD COLUMN     "r3" JSONB;

-- CreateTable
CREATE TABLE "r3_audit_record" (
    "jti" TEXT NOT NULL,
    "r3_uri" TEXT NOT NULL,
    "r3_s256" TEXT NOT NULL,
    "ps" TEXT NOT NULL,
    "sub" TEXT NOT NULL,
    "agent_jkt" TEXT NOT NULL,
    "agent_iss" TEXT NOT NULL,
    "agent_sub" TEXT NOT NULL,
    "subagent_sub" TEXT,
    "r3_granted" JSONB NOT NULL,
    "r3_per_call" JSONB,
    "proposal" BOOLEAN NOT NULL,
    "issued_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "r3_audit_record_pkey" PRIMARY KEY ("jti")
);

-- CreateIndex
CREATE INDEX "r3_audit_record_r3_s256_idx" ON "r3_audit_record"("r3_s256");

-- AddForeignKey
ALTER TABLE "r3_audit_record" ADD CONSTRAINT "r3_audit_record_jti_fkey" FOREIGN KEY ("jti") REFERENCES "issued_auth_token"("jti") ON DELETE CASCADE ON UPDATE CASCADE;
