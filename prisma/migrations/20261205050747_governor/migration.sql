-- CreateEnum
CREATE TYPE "GovernorExecStatus" AS ENUM ('created', 'skipped', 'queued', 'running', 'waiting', 'finished');

-- CreateEnum
CREATE TYPE "GovernorExecResult" AS ENUM ('none', 'success', 'failed', 'timeout');

-- CreateTable
CREATE TABLE "GovernorWorkflow" (
    "id" TEXT NOT NULL,
    "projectId" TEXT NOT NULL,
    "label" TEXT NOT NULL,
    "version" INTEGER NOT NULL,
    "definition" JSONB NOT NULL,
    "sourceFormat" TEXT NOT NULL,
    "active" BOOLEAN NOT NULL DEFAULT false,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "createdById" TEXT,

    CONSTRAINT "GovernorWorkflow_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "GovernorExperiment" (
    "id" TEXT NOT NULL,
    "projectId" TEXT NOT NULL,
    "experimentId" TEXT NOT NULL,
    "workflowId" TEXT NOT NULL,
    "state" TEXT,
    "stateSince" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "paused" BOOLEAN NOT NULL DEFAULT false,
    "waitingFor" TEXT,
    "revision" INTEGER NOT NULL DEFAULT 0,
    "nextCheckAt" TIMESTAMP(3),
    "lastError" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "GovernorExperiment_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "GovernorAction" (
    "id" TEXT NOT NULL,
    "govExperimentId" TEXT NOT NULL,
    "revision" INTEGER NOT NULL,
    "fromState" TEXT,
    "toState" TEXT NOT NULL,
    "cause" TEXT NOT NULL,
    "actorId" TEXT,
    "freetext" TEXT NOT NULL DEFAULT '',
    "trace" JSONB,
    "success" BOOLEAN NOT NULL DEFAULT false,
    "startTime" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "endTime" TIMESTAMP(3),

    CONSTRAINT "GovernorAction_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "GovernorCallbackExecution" (
    "id" TEXT NOT NULL,
    "actionId" TEXT NOT NULL,
    "callback" TEXT NOT NULL,
    "function" TEXT NOT NULL,
    "status" "GovernorExecStatus" NOT NULL DEFAULT 'created',
    "result" "GovernorExecResult" NOT NULL DEFAULT 'none',
    "secretHash" TEXT NOT NULL,
    "runLog" TEXT NOT NULL DEFAULT '',
    "resultLog" TEXT NOT NULL DEFAULT '',
    "resultValues" JSONB,
    "created" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "runStart" TIMESTAMP(3),
    "waitStart" TIMESTAMP(3),
    "finished" TIMESTAMP(3),

    CONSTRAINT "GovernorCallbackExecution_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "GovernorVariable" (
    "govExperimentId" TEXT NOT NULL,
    "label" TEXT NOT NULL,
    "value" JSONB NOT NULL,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "GovernorVariable_pkey" PRIMARY KEY ("govExperimentId","label")
);

-- CreateIndex
CREATE INDEX "GovernorWorkflow_projectId_active_idx" ON "GovernorWorkflow"("projectId", "active");

-- CreateIndex
CREATE UNIQUE INDEX "GovernorWorkflow_projectId_label_version_key" ON "GovernorWorkflow"("projectId", "label", "version");

-- CreateIndex
CREATE UNIQUE INDEX "GovernorExperiment_experimentId_key" ON "GovernorExperiment"("experimentId");

-- CreateIndex
CREATE INDEX "GovernorExperiment_projectId_state_idx" ON "GovernorExperiment"("projectId", "state");

-- CreateIndex
CREATE INDEX "GovernorExperiment_nextCheckAt_idx" ON "GovernorExperiment"("nextCheckAt");

-- CreateIndex
CREATE INDEX "GovernorAction_govExperimentId_startTime_idx" ON "GovernorAction"("govExperimentId", "startTime");

-- CreateIndex
CREATE UNIQUE INDEX "GovernorAction_govExperimentId_revision_key" ON "GovernorAction"("govExperimentId", "revision");

-- CreateIndex
CREATE INDEX "GovernorCallbackExecution_actionId_idx" ON "GovernorCallbackExecution"("actionId");

-- CreateIndex
CREATE INDEX "GovernorCallbackExecution_status_idx" ON "GovernorCallbackExecution"("status");

-- AddForeignKey
ALTER TABLE "GovernorWorkflow" ADD CONSTRAINT "GovernorWorkflow_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Project"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "GovernorExperiment" ADD CONSTRAINT "GovernorExperiment_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Project"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "GovernorExperiment" ADD CONSTRAINT "GovernorExperiment_experimentId_fkey" FOREIGN KEY ("experimentId") REFERENCES "ArchiveExperiment"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "GovernorExperiment" ADD CONSTRAINT "GovernorExperiment_workflowId_fkey" FOREIGN KEY ("workflowId") REFERENCES "GovernorWorkflow"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "GovernorAction" ADD CONSTRAINT "GovernorAction_govExperimentId_fkey" FOREIGN KEY ("govExperimentId") REFERENCES "GovernorExperiment"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "GovernorCallbackExecution" ADD CONSTRAINT "GovernorCallbackExecution_actionId_fkey" FOREIGN KEY ("actionId") REFERENCES "GovernorAction"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "GovernorVariable" ADD CONSTRAINT "GovernorVariable_govExperimentId_fkey" FOREIGN KEY ("govExperimentId") REFERENCES "GovernorExperiment"("id") ON DELETE CASCADE ON UPDATE CASCADE;
