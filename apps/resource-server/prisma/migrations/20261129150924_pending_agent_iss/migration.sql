-- AlterTable
ALTER TABLE "pending_request" ADD COLUMN     "agent_iss" TEXT;
