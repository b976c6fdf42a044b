-- CreateTable
CREATE TABLE "r3_document" (
    "s256" TEXT NOT NULL,
    "bytes" BYTEA NOT NULL,
    "kind" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "r3_document_pkey" PRIMARY KEY ("s256")
);

-- CreateTable
CREATE TABLE "r3_document_reader" (
    "s256" TEXT NOT NULL,
    "party" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "r3_document_reader_pkey" PRIMARY KEY ("s256","party")
);

-- CreateTable
CREATE TABLE "r3_per_call_execution" (
    "r3_s256" TEXT NOT NULL,
    "auth_iss" TEXT NOT NULL,
    "auth_jti" TEXT NOT NULL,
    "status" INTEGER NOT NULL,
    "body" JSONB NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "r3_per_call_execution_pkey" PRIMARY KEY ("r3_s256")
);

-- CreateIndex
CREATE INDEX "r3_per_call_execution_expires_at_idx" ON "r3_per_call_execution"("expires_at");

-- AddForeignKey
ALTER TABLE "r3_document_reader" ADD CONSTRAINT "r3_document_reader_s256_fkey" FOREIGN KEY ("s256") REFERENCES "r3_document"("s256") ON DELETE CASCADE ON UPDATE CASCADE;
