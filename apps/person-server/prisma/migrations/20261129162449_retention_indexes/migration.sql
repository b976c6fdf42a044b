-- CreateIndex
CREATE INDEX "issued_agent_token_expires_at_idx" ON "issued_agent_token"("expires_at");

-- CreateIndex
CREATE INDEX "issued_auth_token_exp_idx" ON "issued_auth_token"("exp");

-- CreateIndex
CREATE INDEX "rate_limit_attempt_at_idx" ON "rate_limit_attempt"("at");

-- CreateIndex
CREATE INDEX "revocation_expires_at_idx" ON "revocation"("expires_at");
