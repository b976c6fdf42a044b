-- CreateIndex
CREATE INDEX "auth_token_record_exp_idx" ON "auth_token_record"("exp");

-- CreateIndex
CREATE INDEX "person_token_record_exp_idx" ON "person_token_record"("exp");

-- CreateIndex
CREATE INDEX "revocation_expires_at_idx" ON "revocation"("expires_at");

-- CreateIndex
CREATE INDEX "session_token_expires_at_idx" ON "session_token"("expires_at");
