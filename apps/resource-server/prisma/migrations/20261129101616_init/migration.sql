-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "public";

-- CreateTable
CREATE TABLE "note" (
    "id" UUID NOT NULL,
    "person_iss" TEXT NOT NULL,
    "person_sub" TEXT NOT NULL,
    "notebook" TEXT NOT NULL,
    "text" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "note_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "person_token_record" (
    "iss" TEXT NOT NULL,
    "jti" TEXT NOT NULL,
    "sub" TEXT NOT NULL,
    "mission_s256" TEXT,
    "tenant" TEXT,
    "exp" TIMESTAMPTZ(3) NOT NULL,
    "cnf_jkt" TEXT NOT NULL,
    "seen_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "person_token_record_pkey" PRIMARY KEY ("iss","jti")
);

-- CreateTable
CREATE TABLE "auth_token_record" (
    "iss" TEXT NOT NULL,
    "jti" TEXT NOT NULL,
    "ps" TEXT NOT NULL,
    "sub" TEXT NOT NULL,
    "scope" TEXT,
    "account" TEXT,
    "exp" TIMESTAMPTZ(3) NOT NULL,
    "cnf_jkt" TEXT NOT NULL,
    "seen_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "auth_token_record_pkey" PRIMARY KEY ("iss","jti")
);

-- CreateTable
CREATE TABLE "revocation" (
    "iss" TEXT NOT NULL,
    "jti" TEXT NOT NULL,
    "revoked_at" TIMESTAMPTZ(3) NOT NULL,
    "revoked_by" TEXT NOT NULL,
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
CREATE INDEX "note_person_iss_person_sub_notebook_created_at_idx" ON "note"("person_iss", "person_sub", "notebook", "created_at");

-- CreateIndex
CREATE INDEX "person_token_record_cnf_jkt_exp_idx" ON "person_token_record"("cnf_jkt", "exp");

-- CreateIndex
CREATE INDEX "replay_entry_expires_at_idx" ON "replay_entry"("expires_at");
