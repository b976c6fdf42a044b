-- CreateTable
CREATE TABLE "mission" (
    "s256" TEXT NOT NULL,
    "blob" BYTEA NOT NULL,
    "agent_iss" TEXT NOT NULL,
    "agent_sub" TEXT NOT NULL,
    "person_id" UUID NOT NULL,
    "status" TEXT NOT NULL,
    "termination_reason" TEXT,
    "terminated_at" TIMESTAMPTZ(3),
    "approved_at" TIMESTAMPTZ(3) NOT NULL,
    "expires_at" TIMESTAMPTZ(3),
    "description" TEXT NOT NULL,
    "approved_tools" JSONB,
    "approved_resources" JSONB,
    "capabilities" JSONB,

    CONSTRAINT "mission_pkey" PRIMARY KEY ("s256")
);

-- CreateTable
CREATE TABLE "mission_log_entry" (
    "id" BIGSERIAL NOT NULL,
    "mission_s256" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "detail" JSONB NOT NULL,
    "s256" TEXT,
    "blob" BYTEA,
    "created_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "mission_log_entry_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "mission_s256_agent_iss_agent_sub_idx" ON "mission"("s256", "agent_iss", "agent_sub");

-- CreateIndex
CREATE INDEX "mission_person_id_idx" ON "mission"("person_id");

-- CreateIndex
CREATE INDEX "mission_log_entry_mission_s256_id_idx" ON "mission_log_entry"("mission_s256", "id");

-- AddForeignKey
ALTER TABLE "mission" ADD CONSTRAINT "mission_person_id_fkey" FOREIGN KEY ("person_id") REFERENCES "person"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "mission_log_entry" ADD CONSTRAINT "mission_log_entry_mission_s256_fkey" FOREIGN KEY ("mission_s256") REFERENCES "mission"("s256") ON DELETE CASCADE ON UPDATE CASCADE;
