-- AlterTable
ALTER TABLE "pending_request" ADD COLUMN     "resource_callback_id" TEXT,
ADD COLUMN     "resource_done_at" TIMESTAMPTZ(3);

-- CreateIndex
CREATE UNIQUE INDEX "pending_request_resource_callback_id_key" ON "pending_request"("resource_callback_id");
