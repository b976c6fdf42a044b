-- CreateTable
CREATE TABLE "seen_agent_token" (
    "iss" TEXT NOT NULL,
    "jti" TEXT NOT NULL,
    "sub" TEXT NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "seen_agent_token_pkey" PRIMARY KEY ("iss","jti")
);

-- CreateIndex
CREATE INDEX "seen_agent_token_expires_at_idx" ON "seen_agent_token"("expires_at");
