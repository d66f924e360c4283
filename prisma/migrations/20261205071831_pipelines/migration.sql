-- CreateEnum
CREATE TYPE "PipelineRunState" AS ENUM ('queued', 'running', 'succeeded', 'failed', 'cancelled');

-- CreateEnum
CREATE TYPE "PipelineJobState" AS ENUM ('waiting', 'queued', 'running', 'succeeded', 'failed', 'timed_out', 'out_of_memory', 'cancelled', 'skipped');

-- CreateTable
CREATE TABLE "PipelineTool" (
    "id" TEXT NOT NULL,
    "scope" TEXT NOT NULL,
    "projectId" TEXT,
    "toolId" TEXT NOT NULL,
    "version" TEXT NOT NULL,
    "definition" JSONB NOT NULL,
    "sourceText" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "createdById" TEXT,

    CONSTRAINT "PipelineTool_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Pipeline" (
    "id" TEXT NOT NULL,
    "scope" TEXT NOT NULL,
    "projectId" TEXT,
    "pipelineId" TEXT NOT NULL,
    "version" TEXT NOT NULL,
    "name" TEXT,
    "definition" JSONB NOT NULL,
    "sourceText" TEXT NOT NULL,
    "toolVersions" JSONB NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "createdById" TEXT,

    CONSTRAINT "Pipeline_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "PipelineRun" (
    "id" TEXT NOT NULL,
    "projectId" TEXT NOT NULL,
    "pipelineRowId" TEXT NOT NULL,
    "pipelineId" TEXT NOT NULL,
    "pipelineVersion" TEXT NOT NULL,
    "experimentIds" TEXT[],
    "startedBy" TEXT NOT NULL,
    "startedById" TEXT,
    "executor" TEXT NOT NULL,
    "priority" INTEGER NOT NULL DEFAULT 0,
    "state" "PipelineRunState" NOT NULL DEFAULT 'queued',
    "cancelRequested" BOOLEAN NOT NULL DEFAULT false,
    "error" TEXT,
    "notes" TEXT[],
    "callbackUrl" TEXT,
    "workDir" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "startedAt" TIMESTAMP(3),
    "endedAt" TIMESTAMP(3),
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "PipelineRun_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "PipelineJob" (
    "id" TEXT NOT NULL,
    "runId" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "node" TEXT NOT NULL,
    "sample" TEXT NOT NULL,
    "level" TEXT NOT NULL,
    "toolId" TEXT NOT NULL,
    "toolVersion" TEXT NOT NULL,
    "state" "PipelineJobState" NOT NULL DEFAULT 'waiting',
    "after" TEXT[],
    "attempt" INTEGER NOT NULL DEFAULT 1,
    "cancelRequested" BOOLEAN NOT NULL DEFAULT false,
    "executor" TEXT NOT NULL,
    "host" TEXT,
    "externalId" TEXT,
    "command" TEXT[],
    "exitCode" INTEGER,
    "reason" TEXT,
    "queuedAt" TIMESTAMP(3),
    "startedAt" TIMESTAMP(3),
    "endedAt" TIMESTAMP(3),
    "peakMemoryKb" INTEGER,
    "workDir" TEXT NOT NULL,
    "logPath" TEXT NOT NULL,
    "inputs" JSONB NOT NULL,
    "outputs" JSONB,
    "inputHashes" JSONB,
    "outputHashes" JSONB,
    "provenance" JSONB,
    "cacheKey" TEXT,
    "reusedFromJobId" TEXT,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "PipelineJob_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ArchiveResource" (
    "id" TEXT NOT NULL,
    "projectId" TEXT NOT NULL,
    "subjectId" TEXT NOT NULL,
    "experimentId" TEXT,
    "scanId" TEXT,
    "name" TEXT NOT NULL,
    "files" JSONB NOT NULL,
    "runId" TEXT,
    "jobId" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "ArchiveResource_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ArchiveValue" (
    "id" TEXT NOT NULL,
    "projectId" TEXT NOT NULL,
    "subjectId" TEXT NOT NULL,
    "experimentId" TEXT,
    "scanId" TEXT,
    "name" TEXT NOT NULL,
    "value" JSONB NOT NULL,
    "runId" TEXT,
    "jobId" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "ArchiveValue_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "PipelineTool_projectId_idx" ON "PipelineTool"("projectId");

-- CreateIndex
CREATE UNIQUE INDEX "PipelineTool_scope_toolId_version_key" ON "PipelineTool"("scope", "toolId", "version");

-- CreateIndex
CREATE INDEX "Pipeline_projectId_idx" ON "Pipeline"("projectId");

-- CreateIndex
CREATE UNIQUE INDEX "Pipeline_scope_pipelineId_version_key" ON "Pipeline"("scope", "pipelineId", "version");

-- CreateIndex
CREATE INDEX "PipelineRun_projectId_createdAt_idx" ON "PipelineRun"("projectId", "createdAt");

-- CreateIndex
CREATE INDEX "PipelineRun_state_idx" ON "PipelineRun"("state");

-- CreateIndex
CREATE INDEX "PipelineJob_runId_state_idx" ON "PipelineJob"("runId", "state");

-- CreateIndex
CREATE INDEX "PipelineJob_cacheKey_state_idx" ON "PipelineJob"("cacheKey", "state");

-- CreateIndex
CREATE INDEX "PipelineJob_state_idx" ON "PipelineJob"("state");

-- CreateIndex
CREATE UNIQUE INDEX "PipelineJob_runId_key_key" ON "PipelineJob"("runId", "key");

-- CreateIndex
CREATE INDEX "ArchiveResource_projectId_experimentId_idx" ON "ArchiveResource"("projectId", "experimentId");

-- CreateIndex
CREATE INDEX "ArchiveResource_subjectId_idx" ON "ArchiveResource"("subjectId");

-- CreateIndex
CREATE INDEX "ArchiveResource_scanId_idx" ON "ArchiveResource"("scanId");

-- CreateIndex
CREATE INDEX "ArchiveValue_projectId_experimentId_idx" ON "ArchiveValue"("projectId", "experimentId");

-- CreateIndex
CREATE INDEX "ArchiveValue_subjectId_idx" ON "ArchiveValue"("subjectId");

-- CreateIndex
CREATE INDEX "ArchiveValue_scanId_idx" ON "ArchiveValue"("scanId");

-- AddForeignKey
ALTER TABLE "PipelineTool" ADD CONSTRAINT "PipelineTool_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Project"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Pipeline" ADD CONSTRAINT "Pipeline_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Project"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "PipelineRun" ADD CONSTRAINT "PipelineRun_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Project"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "PipelineRun" ADD CONSTRAINT "PipelineRun_pipelineRowId_fkey" FOREIGN KEY ("pipelineRowId") REFERENCES "Pipeline"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "PipelineJob" ADD CONSTRAINT "PipelineJob_runId_fkey" FOREIGN KEY ("runId") REFERENCES "PipelineRun"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ArchiveResource" ADD CONSTRAINT "ArchiveResource_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Project"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ArchiveValue" ADD CONSTRAINT "ArchiveValue_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Project"("id") ON DELETE CASCADE ON UPDATE CASCADE;
