-- AlterTable
ALTER TABLE "TaskResult" ADD COLUMN "exports" JSONB,
ADD COLUMN "exportError" TEXT;
