-- AlterTable
ALTER TABLE "pending_request" ADD COLUMN     "answers" JSONB,
ADD COLUMN     "approved_at" TIMESTAMPTZ(3),
ADD COLUMN     "approved_by" UUID,
ADD COLUMN     "billing_id" TEXT,
ADD COLUMN     "clarification" JSONB,
ADD COLUMN     "code_consumed_at" TIMESTAMPTZ(3),
ADD COLUMN     "interaction_code" TEXT,
ADD COLUMN     "interaction_person_id" UUID;

-- CreateTable
CREATE TABLE "as_person" (
    "id" UUID NOT NULL,
    "username" TEXT NOT NULL,
    "password_hash" TEXT NOT NULL,
    "display_name" TEXT NOT NULL,
    "is_admin" BOOLEAN NOT NULL DEFAULT false,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "as_person_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "web_session" (
    "id_hash" TEXT NOT NULL,
    "person_id" UUID NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "web_session_pkey" PRIMARY KEY ("id_hash")
);

-- CreateTable
CREATE TABLE "ps_binding" (
    "id" UUID NOT NULL,
    "ps" TEXT NOT NULL,
    "sub" TEXT NOT NULL,
    "person_id" UUID NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "revoked_at" TIMESTAMPTZ(3),

    CONSTRAINT "ps_binding_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "billing_relationship" (
    "ps" TEXT NOT NULL,
    "paid_by" UUID NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "billing_relationship_pkey" PRIMARY KEY ("ps")
);

-- CreateIndex
CREATE UNIQUE INDEX "as_person_username_key" ON "as_person"("username");

-- CreateIndex
CREATE INDEX "web_session_expires_at_idx" ON "web_session"("expires_at");

-- CreateIndex
CREATE INDEX "ps_binding_ps_sub_idx" ON "ps_binding"("ps", "sub");

-- CreateIndex
CREATE UNIQUE INDEX "pending_request_interaction_code_key" ON "pending_request"("interaction_code");

-- CreateIndex
CREATE UNIQUE INDEX "pending_request_billing_id_key" ON "pending_request"("billing_id");

-- AddForeignKey
ALTER TABLE "web_session" ADD CONSTRAINT "web_session_person_id_fkey" FOREIGN KEY ("person_id") REFERENCES "as_person"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ps_binding" ADD CONSTRAINT "ps_binding_person_id_fkey" FOREIGN KEY ("person_id") REFERENCES "as_person"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
