-- CreateTable
CREATE TABLE "DeidApproval" (
    "id" TEXT NOT NULL,
    "projectId" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "setting" TEXT NOT NULL,
    "settingHash" TEXT NOT NULL,
    "exceptions" JSONB NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "requestedById" TEXT,
    "decidedById" TEXT,
    "note" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "decidedAt" TIMESTAMP(3),

    CONSTRAINT "DeidApproval_pkey" PRIMARY KEY ("id")
);
-- CreateIndex
CREATE INDEX "DeidApproval_projectId_status_idx" ON "DeidApproval"("projectId", "status");
-- CreateIndex
CREATE INDEX "DeidApproval_status_createdAt_idx" ON "DeidApproval"("status", "createdAt");
