-- CreateTable
CREATE TABLE "resource_user" (
    "id" UUID NOT NULL,
    "username" TEXT NOT NULL,
    "password_hash" TEXT NOT NULL,
    "display_name" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "resource_user_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "web_session" (
    "id_hash" TEXT NOT NULL,
    "user_id" UUID NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "web_session_pkey" PRIMARY KEY ("id_hash")
);

-- CreateTable
CREATE TABLE "pending_request" (
    "id" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "owner_jkt" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "interaction_code" TEXT,
    "code_consumed_at" TIMESTAMPTZ(3),
    "user_id" UUID,
    "callback_url" TEXT,
    "scope" TEXT,
    "invocation" JSONB,
    "resource_token" TEXT,
    "resource_token_exp" TIMESTAMPTZ(3),
    "result" JSONB,
    "auth_iss" TEXT,
    "auth_jti" TEXT,
    "result_until" TIMESTAMPTZ(3),
    "retry_after" INTEGER NOT NULL,
    "last_polled_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "terminal_at" TIMESTAMPTZ(3),

    CONSTRAINT "pending_request_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "session_token" (
    "token_hash" TEXT NOT NULL,
    "grant_id" UUID NOT NULL,
    "user_id" UUID NOT NULL,
    "agent_jkt" TEXT NOT NULL,
    "scope" TEXT NOT NULL,
    "issued_at" TIMESTAMPTZ(3) NOT NULL,
    "superseded_at" TIMESTAMPTZ(3),
    "expires_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "session_token_pkey" PRIMARY KEY ("token_hash")
);

-- CreateIndex
CREATE UNIQUE INDEX "resource_user_username_key" ON "resource_user"("username");

-- CreateIndex
CREATE INDEX "web_session_expires_at_idx" ON "web_session"("expires_at");

-- CreateIndex
CREATE UNIQUE INDEX "pending_request_interaction_code_key" ON "pending_request"("interaction_code");

-- CreateIndex
CREATE INDEX "pending_request_expires_at_idx" ON "pending_request"("expires_at");

-- CreateIndex
CREATE INDEX "session_token_grant_id_idx" ON "session_token"("grant_id");

-- AddForeignKey
ALTER TABLE "web_session" ADD CONSTRAINT "web_session_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "resource_user"("id") ON DELETE CASCADE ON UPDATE CASCADE;
