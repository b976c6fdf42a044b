-- CreateTable
CREATE TABLE "rate_limit_attempt" (
    "id" BIGSERIAL NOT NULL,
    "scope" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "rate_limit_attempt_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "rate_limit_attempt_scope_key_at_idx" ON "rate_limit_attempt"("scope", "key", "at");
