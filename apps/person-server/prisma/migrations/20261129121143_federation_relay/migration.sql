-- CreateTable
CREATE TABLE "federated_request" (
    "id" TEXT NOT NULL,
    "access_server" TEXT NOT NULL,
    "token_endpoint" TEXT NOT NULL,
    "as_pending_url" TEXT NOT NULL,
    "facts" JSONB NOT NULL,
    "step" JSONB NOT NULL,
    "as_retry_after" INTEGER NOT NULL,
    "as_next_poll_at" TIMESTAMPTZ(3) NOT NULL,
    "agent_retry_after" INTEGER NOT NULL,
    "claims_answers" INTEGER NOT NULL DEFAULT 0,
    "payment_seen" BOOLEAN NOT NULL DEFAULT false,
    "version" INTEGER NOT NULL DEFAULT 0,
    "created_at" TIMESTAMPTZ(3) NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "federated_request_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "as_billing" (
    "access_server" TEXT NOT NULL,
    "method" TEXT NOT NULL,
    "established_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "as_billing_pkey" PRIMARY KEY ("access_server")
);

-- AddForeignKey
ALTER TABLE "federated_request" ADD CONSTRAINT "federated_request_id_fkey" FOREIGN KEY ("id") REFERENCES "pending_request"("id") ON DELETE CASCADE ON UPDATE CASCADE;
