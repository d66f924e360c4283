-- CreateTable
CREATE TABLE "ReportedRun" (
    "id" TEXT NOT NULL,
    "projectId" TEXT NOT NULL,
    "runName" TEXT NOT NULL,
    "network" TEXT NOT NULL,
    "reportedBy" TEXT,
    "description" TEXT,
    "graph" JSONB NOT NULL,
    "statusTitles" TEXT[],
    "customData" JSONB NOT NULL,
    "state" TEXT NOT NULL DEFAULT 'registered',
    "tokenId" TEXT,
    "registeredAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    "finishedAt" TIMESTAMP(3),
    "droppedLogRecords" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "ReportedRun_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ReportedJob" (
    "id" TEXT NOT NULL,
    "runId" TEXT NOT NULL,
    "path" TEXT NOT NULL,
    "nodePath" TEXT,
    "status" INTEGER,
    "customData" JSONB NOT NULL,
    "log" JSONB NOT NULL,
    "startedAt" TIMESTAMP(3),
    "finishedAt" TIMESTAMP(3),
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "ReportedJob_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "ReportedRun_projectId_registeredAt_idx" ON "ReportedRun"("projectId", "registeredAt");

-- CreateIndex
CREATE UNIQUE INDEX "ReportedRun_projectId_runName_key" ON "ReportedRun"("projectId", "runName");

-- CreateIndex
CREATE INDEX "ReportedJob_runId_nodePath_status_idx" ON "ReportedJob"("runId", "nodePath", "status");

-- CreateIndex
CREATE UNIQUE INDEX "ReportedJob_runId_path_key" ON "ReportedJob"("runId", "path");

-- AddForeignKey
ALTER TABLE "ReportedRun" ADD CONSTRAINT "ReportedRun_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Project"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ReportedJob" ADD CONSTRAINT "ReportedJob_runId_fkey" FOREIGN KEY ("runId") REFERENCES "ReportedRun"("id") ON DELETE CASCADE ON UPDATE CASCADE;
