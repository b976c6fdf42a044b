-- CreateIndex
CREATE INDEX "issued_auth_token_person_id_exp_idx" ON "issued_auth_token"("person_id", "exp");

-- CreateIndex
CREATE INDEX "person_token_record_person_id_exp_idx" ON "person_token_record"("person_id", "exp");
