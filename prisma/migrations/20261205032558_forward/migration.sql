-- CreateEnum
CREATE TYPE "ForwardKind" AS ENUM ('dicom', 'stow');

-- CreateEnum
CREATE TYPE "ForwardTrigger" AS ENUM ('archived', 'stable');

-- CreateEnum
CREATE TYPE "ForwardState" AS ENUM ('queued', 'sending', 'verified', 'failed');

-- CreateEnum
CREATE TYPE "ForwardOutcome" AS ENUM ('success', 'warning', 'failed', 'filtered');

-- CreateTable
CREATE TABLE "ForwardDestination" (
    "id" TEXT NOT NULL,
    "projectId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "kind" "ForwardKind" NOT NULL,
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "trigger" "ForwardTrigger" NOT NULL DEFAULT 'archived',
    "filter" TEXT NOT NULL DEFAULT '',
    "host" TEXT,
    "port" INTEGER,
    "calledAe" TEXT,
    "callingAe" TEXT,
    "associations" INTEGER NOT NULL DEFAULT 1,
    "stowUrl" TEXT,
    "authKind" TEXT NOT NULL DEFAULT 'none',
    "authUser" TEXT,
    "secretSealed" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "ForwardDestination_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "StudyForward" (
    "id" TEXT NOT NULL,
    "destinationId" TEXT NOT NULL,
    "studyId" TEXT NOT NULL,
    "projectId" TEXT NOT NULL,
    "state" "ForwardState" NOT NULL DEFAULT 'queued',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "lastError" TEXT,
    "nextAttemptAt" TIMESTAMP(3),
    "handedInstances" INTEGER NOT NULL DEFAULT 0,
    "total" INTEGER NOT NULL DEFAULT 0,
    "done" INTEGER NOT NULL DEFAULT 0,
    "sent" INTEGER NOT NULL DEFAULT 0,
    "warnings" INTEGER NOT NULL DEFAULT 0,
    "failed" INTEGER NOT NULL DEFAULT 0,
    "filtered" INTEGER NOT NULL DEFAULT 0,
    "queuedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "startedAt" TIMESTAMP(3),
    "finishedAt" TIMESTAMP(3),
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "StudyForward_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ForwardDelivery" (
    "id" TEXT NOT NULL,
    "destinationId" TEXT NOT NULL,
    "studyId" TEXT NOT NULL,
    "sopInstanceUid" TEXT NOT NULL,
    "outcome" "ForwardOutcome" NOT NULL,
    "status" INTEGER,
    "reason" TEXT,
    "converted" BOOLEAN NOT NULL DEFAULT false,
    "attempts" INTEGER NOT NULL DEFAULT 1,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "ForwardDelivery_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "ForwardDestination_projectId_idx" ON "ForwardDestination"("projectId");

-- CreateIndex
CREATE INDEX "StudyForward_projectId_state_idx" ON "StudyForward"("projectId", "state");

-- CreateIndex
CREATE INDEX "StudyForward_state_nextAttemptAt_idx" ON "StudyForward"("state", "nextAttemptAt");

-- CreateIndex
CREATE UNIQUE INDEX "StudyForward_destinationId_studyId_key" ON "StudyForward"("destinationId", "studyId");

-- CreateIndex
CREATE INDEX "ForwardDelivery_destinationId_studyId_idx" ON "ForwardDelivery"("destinationId", "studyId");

-- CreateIndex
CREATE UNIQUE INDEX "ForwardDelivery_destinationId_sopInstanceUid_key" ON "ForwardDelivery"("destinationId", "sopInstanceUid");

-- AddForeignKey
ALTER TABLE "ForwardDestination" ADD CONSTRAINT "ForwardDestination_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Project"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "StudyForward" ADD CONSTRAINT "StudyForward_destinationId_fkey" FOREIGN KEY ("destinationId") REFERENCES "ForwardDestination"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "StudyForward" ADD CONSTRAINT "StudyForward_studyId_fkey" FOREIGN KEY ("studyId") REFERENCES "IntakeStudy"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ForwardDelivery" ADD CONSTRAINT "ForwardDelivery_destinationId_fkey" FOREIGN KEY ("destinationId") REFERENCES "ForwardDestination"("id") ON DELETE CASCADE ON UPDATE CASCADE;
