-- CreateIndex
CREATE INDEX "issued_auth_token_exp_idx" ON "issued_auth_token"("exp");

-- CreateIndex
CREATE INDEX "revocation_expires_at_idx" ON "revocation"("expires_at");
