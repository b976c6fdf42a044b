-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "public";

-- CreateTable
CREATE TABLE "trusted_person_server" (
    "issuer" TEXT NOT NULL,
    "name" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "trusted_person_server_pkey" PRIMARY KEY ("issuer")
);

-- CreateTable
CREATE TABLE "resource_policy" (
    "resource" TEXT NOT NULL,
    "fallback" TEXT NOT NULL,
    "rules" JSONB NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "resource_policy_pkey" PRIMARY KEY ("resource")
);

-- CreateTable
CREATE TABLE "issued_auth_token" (
    "jti" TEXT NOT NULL,
    "aud" TEXT NOT NULL,
    "ps" TEXT NOT NULL,
    "sub" TEXT NOT NULL,
    "scope" TEXT,
    "account" TEXT,
    "mission_s256" TEXT,
    "tenant" TEXT,
    "agent_iss" TEXT NOT NULL,
    "agent_sub" TEXT NOT NULL,
    "subagent_sub" TEXT,
    "cnf_jkt" TEXT NOT NULL,
    "resource_token_jti" TEXT NOT NULL,
    "issued_at" TIMESTAMPTZ(3) NOT NULL,
    "exp" TIMESTAMPTZ(3) NOT NULL,
    "revoked_at" TIMESTAMPTZ(3),

    CONSTRAINT "issued_auth_token_pkey" PRIMARY KEY ("jti")
);

-- CreateTable
CREATE TABLE "pending_request" (
    "id" TEXT NOT NULL,
    "ps" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "request" JSONB NOT NULL,
    "required_claims" JSONB,
    "claims" JSONB,
    "result" JSONB,
    "retry_after" INTEGER NOT NULL DEFAULT 0,
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

-- CreateIndex
CREATE INDEX "issued_auth_token_ps_sub_idx" ON "issued_auth_token"("ps", "sub");

-- CreateIndex
CREATE INDEX "issued_auth_token_aud_idx" ON "issued_auth_token"("aud");

-- CreateIndex
CREATE INDEX "issued_auth_token_agent_iss_agent_sub_idx" ON "issued_auth_token"("agent_iss", "agent_sub");

-- CreateIndex
CREATE INDEX "pending_request_ps_idx" ON "pending_request"("ps");

-- CreateIndex
CREATE INDEX "pending_request_expires_at_idx" ON "pending_request"("expires_at");

-- CreateIndex
CREATE INDEX "replay_entry_expires_at_idx" ON "replay_entry"("expires_at");
