-- CreateTable
CREATE TABLE "governance_log_entry" (
    "id" BIGSERIAL NOT NULL,
    "agent_iss" TEXT NOT NULL,
    "agent_sub" TEXT NOT NULL,
    "person_id" UUID,
    "pending_id" TEXT,
    "kind" TEXT NOT NULL,
    "detail" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "governance_log_entry_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "governance_log_entry_person_id_id_idx" ON "governance_log_entry"("person_id", "id");

-- CreateIndex
CREATE INDEX "governance_log_entry_agent_iss_agent_sub_id_idx" ON "governance_log_entry"("agent_iss", "agent_sub", "id");
