-- CreateTable
CREATE TABLE "chained_request" (
    "id" TEXT NOT NULL,
    "owner_jkt" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "step" TEXT NOT NULL,
    "ps" TEXT NOT NULL,
    "person_sub" TEXT NOT NULL,
    "ps_pending_url" TEXT,
    "interaction_code" TEXT,
    "ps_interaction_url" TEXT,
    "ps_interaction_code" TEXT,
    "capabilities" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "terminal_at" TIMESTAMPTZ(3),

    CONSTRAINT "chained_request_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "chained_request_interaction_code_key" ON "chained_request"("interaction_code");

-- CreateIndex
CREATE INDEX "chained_request_expires_at_idx" ON "chained_request"("expires_at");
