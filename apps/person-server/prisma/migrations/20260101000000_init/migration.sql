-- CreateTable
CREATE TABLE "person" (
    "id" UUID NOT NULL,
    "username" TEXT NOT NULL,
    "password_hash" TEXT NOT NULL,
    "display_name" TEXT NOT NULL,
    "email" TEXT,
    "tenant" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "person_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "web_session" (
    "id_hash" TEXT NOT NULL,
    "person_id" UUID NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "web_session_pkey" PRIMARY KEY ("id_hash")
);

-- CreateTable
CREATE TABLE "enrollment" (
    "id" UUID NOT NULL,
    "durable_jkt" TEXT NOT NULL,
    "durable_jwk" JSONB NOT NULL,
    "agent_sub" TEXT NOT NULL,
    "ps" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "person_id" UUID,
    "name" TEXT,
    "platform" TEXT,
    "device" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "decided_at" TIMESTAMPTZ(3),

    CONSTRAINT "enrollment_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "sub_agent" (
    "id" UUID NOT NULL,
    "enrollment_id" UUID NOT NULL,
    "sub" TEXT NOT NULL,
    "parent_agent" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "sub_agent_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "issued_agent_token" (
    "jti" TEXT NOT NULL,
    "sub" TEXT NOT NULL,
    "cnf_jkt" TEXT NOT NULL,
    "parent_agent" TEXT,
    "issued_at" TIMESTAMPTZ(3) NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "issued_agent_token_pkey" PRIMARY KEY ("jti")
);

-- CreateTable
CREATE TABLE "agent_binding" (
    "id" UUID NOT NULL,
    "agent_iss" TEXT NOT NULL,
    "agent_sub" TEXT NOT NULL,
    "person_id" UUID NOT NULL,
    "agent_name" TEXT,
    "platform" TEXT,
    "device" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "revoked_at" TIMESTAMPTZ(3),

    CONSTRAINT "agent_binding_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "directed_subject" (
    "person_id" UUID NOT NULL,
    "resource" TEXT NOT NULL,
    "sub" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "directed_subject_pkey" PRIMARY KEY ("person_id","resource")
);

-- CreateTable
CREATE TABLE "person_token_record" (
    "jti" TEXT NOT NULL,
    "ps" TEXT NOT NULL,
    "sub" TEXT NOT NULL,
    "mission_s256" TEXT,
    "tenant" TEXT,
    "exp" TIMESTAMPTZ(3) NOT NULL,
    "resource" TEXT NOT NULL,
    "person_id" UUID NOT NULL,
    "agent_iss" TEXT NOT NULL,
    "agent_sub" TEXT NOT NULL,
    "subagent_sub" TEXT,
    "cnf_jkt" TEXT NOT NULL,
    "issued_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "person_token_record_pkey" PRIMARY KEY ("jti")
);

-- CreateTable
CREATE TABLE "resource_consent" (
    "person_id" UUID NOT NULL,
    "agent_iss" TEXT NOT NULL,
    "agent_sub" TEXT NOT NULL,
    "resource" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "revoked_at" TIMESTAMPTZ(3),

    CONSTRAINT "resource_consent_pkey" PRIMARY KEY ("person_id","agent_iss","agent_sub","resource")
);

-- CreateTable
CREATE TABLE "scope_consent" (
    "id" UUID NOT NULL,
    "person_id" UUID NOT NULL,
    "agent_iss" TEXT NOT NULL,
    "agent_sub" TEXT NOT NULL,
    "resource" TEXT NOT NULL,
    "scope" TEXT NOT NULL,
    "mission_s256" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "revoked_at" TIMESTAMPTZ(3),

    CONSTRAINT "scope_consent_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "issued_auth_token" (
    "jti" TEXT NOT NULL,
    "iss" TEXT NOT NULL,
    "aud" TEXT NOT NULL,
    "sub" TEXT NOT NULL,
    "scope" TEXT,
    "mission_s256" TEXT,
    "person_id" UUID NOT NULL,
    "agent_iss" TEXT NOT NULL,
    "agent_sub" TEXT NOT NULL,
    "cnf_jkt" TEXT NOT NULL,
    "issued_at" TIMESTAMPTZ(3) NOT NULL,
    "exp" TIMESTAMPTZ(3) NOT NULL,
    "revoked_at" TIMESTAMPTZ(3),

    CONSTRAINT "issued_auth_token_pkey" PRIMARY KEY ("jti")
);

-- CreateTable
CREATE TABLE "pending_request" (
    "id" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "agent_iss" TEXT,
    "agent_sub" TEXT,
    "durable_jkt" TEXT,
    "status" TEXT NOT NULL,
    "request" JSONB NOT NULL,
    "result" JSONB,
    "interaction_code" TEXT,
    "code_attempts" INTEGER NOT NULL DEFAULT 0,
    "code_consumed_at" TIMESTAMPTZ(3),
    "person_id" UUID,
    "callback_url" TEXT,
    "clarification" JSONB,
    "clarification_round" INTEGER NOT NULL DEFAULT 0,
    "retry_after" INTEGER NOT NULL DEFAULT 2,
    "last_polled_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "terminal_at" TIMESTAMPTZ(3),

    CONSTRAINT "pending_request_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "revocation" (
    "iss" TEXT NOT NULL,
    "jti" TEXT NOT NULL,
    "revoked_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "reason" TEXT,
    "expires_at" TIMESTAMPTZ(3),

    CONSTRAINT "revocation_pkey" PRIMARY KEY ("iss","jti")
);

-- CreateTable
CREATE TABLE "replay_entry" (
    "key" TEXT NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "replay_entry_pkey" PRIMARY KEY ("key")
);

-- CreateTable
CREATE TABLE "security_event" (
    "id" UUID NOT NULL,
    "event" TEXT NOT NULL,
    "detail" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "security_event_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "person_username_key" ON "person"("username");

-- CreateIndex
CREATE INDEX "web_session_expires_at_idx" ON "web_session"("expires_at");

-- CreateIndex
CREATE UNIQUE INDEX "enrollment_durable_jkt_key" ON "enrollment"("durable_jkt");

-- CreateIndex
CREATE UNIQUE INDEX "enrollment_agent_sub_key" ON "enrollment"("agent_sub");

-- CreateIndex
CREATE UNIQUE INDEX "sub_agent_sub_key" ON "sub_agent"("sub");

-- CreateIndex
CREATE INDEX "issued_agent_token_sub_idx" ON "issued_agent_token"("sub");

-- CreateIndex
CREATE INDEX "agent_binding_agent_iss_agent_sub_idx" ON "agent_binding"("agent_iss", "agent_sub");

-- CreateIndex
CREATE UNIQUE INDEX "directed_subject_resource_sub_key" ON "directed_subject"("resource", "sub");

-- CreateIndex
CREATE INDEX "person_token_record_exp_idx" ON "person_token_record"("exp");

-- CreateIndex
CREATE INDEX "person_token_record_agent_iss_agent_sub_idx" ON "person_token_record"("agent_iss", "agent_sub");

-- CreateIndex
CREATE INDEX "scope_consent_person_id_agent_iss_agent_sub_resource_idx" ON "scope_consent"("person_id", "agent_iss", "agent_sub", "resource");

-- CreateIndex
CREATE INDEX "issued_auth_token_agent_iss_agent_sub_idx" ON "issued_auth_token"("agent_iss", "agent_sub");

-- CreateIndex
CREATE UNIQUE INDEX "pending_request_interaction_code_key" ON "pending_request"("interaction_code");

-- CreateIndex
CREATE INDEX "pending_request_agent_iss_agent_sub_idx" ON "pending_request"("agent_iss", "agent_sub");

-- CreateIndex
CREATE INDEX "pending_request_expires_at_idx" ON "pending_request"("expires_at");

-- CreateIndex
CREATE INDEX "replay_entry_expires_at_idx" ON "replay_entry"("expires_at");

-- CreateIndex
CREATE INDEX "security_event_created_at_idx" ON "security_event"("created_at");

-- AddForeignKey
ALTER TABLE "web_session" ADD CONSTRAINT "web_session_person_id_fkey" FOREIGN KEY ("person_id") REFERENCES "person"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "enrollment" ADD CONSTRAINT "enrollment_person_id_fkey" FOREIGN KEY ("person_id") REFERENCES "person"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "sub_agent" ADD CONSTRAINT "sub_agent_enrollment_id_fkey" FOREIGN KEY ("enrollment_id") REFERENCES "enrollment"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "agent_binding" ADD CONSTRAINT "agent_binding_person_id_fkey" FOREIGN KEY ("person_id") REFERENCES "person"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "directed_subject" ADD CONSTRAINT "directed_subject_person_id_fkey" FOREIGN KEY ("person_id") REFERENCES "person"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "person_token_record" ADD CONSTRAINT "person_token_record_person_id_fkey" FOREIGN KEY ("person_id") REFERENCES "person"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "resource_consent" ADD CONSTRAINT "resource_consent_person_id_fkey" FOREIGN KEY ("person_id") REFERENCES "person"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "scope_consent" ADD CONSTRAINT "scope_consent_person_id_fkey" FOREIGN KEY ("person_id") REFERENCES "person"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "issued_auth_token" ADD CONSTRAINT "issued_auth_token_person_id_fkey" FOREIGN KEY ("person_id") REFERENCES "person"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
