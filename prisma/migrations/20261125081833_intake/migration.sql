-- CreateEnum
CREATE TYPE "IntakeChannel" AS ENUM ('cstore', 'stow', 'webhook', 'upload');

-- CreateEnum
CREATE TYPE "InstanceStatus" AS ENUM ('received', 'deidentified', 'duplicate', 'skipped', 'quarantined');

-- CreateEnum
CREATE TYPE "StudyStatus" AS ENUM ('receiving', 'stable', 'archiving', 'archived', 'failed');

-- CreateTable
CREATE TABLE "ProjectIntake" (
    "projectId" TEXT NOT NULL,
    "stableAfterSeconds" INTEGER NOT NULL DEFAULT 60,
    "deidProfile" TEXT NOT NULL DEFAULT 'basic',
    "deidScript" TEXT,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "ProjectIntake_pkey" PRIMARY KEY ("projectId")
);

-- CreateTable
CREATE TABLE "AeRoute" (
    "aeTitle" TEXT NOT NULL,
    "projectId" TEXT NOT NULL,
    "allowedCallingAes" TEXT[],
    "allowedAddresses" TEXT[],
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "AeRoute_pkey" PRIMARY KEY ("aeTitle")
);

-- CreateTable
CREATE TABLE "ReceivedInstance" (
    "id" TEXT NOT NULL,
    "receivedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    "channel" "IntakeChannel" NOT NULL,
    "projectId" TEXT,
    "batchId" TEXT NOT NULL,
    "callingAe" TEXT,
    "calledAe" TEXT,
    "remoteAddress" TEXT,
    "sopClassUid" TEXT,
    "sopInstanceUid" TEXT,
    "transferSyntaxUid" TEXT,
    "stagingPath" TEXT NOT NULL,
    "sizeBytes" INTEGER NOT NULL,
    "sha256" TEXT NOT NULL,
    "status" "InstanceStatus" NOT NULL DEFAULT 'received',
    "reason" TEXT,
    "studyId" TEXT,
    "outputPath" TEXT,

    CONSTRAINT "ReceivedInstance_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "InstanceEvent" (
    "id" BIGSERIAL NOT NULL,
    "instanceId" TEXT NOT NULL,
    "at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "step" TEXT NOT NULL,
    "detail" JSONB,

    CONSTRAINT "InstanceEvent_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ProjectSopInstance" (
    "projectId" TEXT NOT NULL,
    "sopInstanceUid" TEXT NOT NULL,
    "instanceId" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ProjectSopInstance_pkey" PRIMARY KEY ("projectId","sopInstanceUid")
);

-- CreateTable
CREATE TABLE "IntakeStudy" (
    "id" TEXT NOT NULL,
    "projectId" TEXT NOT NULL,
    "studyInstanceUid" TEXT NOT NULL,
    "subjectLabel" TEXT NOT NULL,
    "firstInstanceAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lastInstanceAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "instanceCount" INTEGER NOT NULL DEFAULT 0,
    "status" "StudyStatus" NOT NULL DEFAULT 'receiving',
    "stableAt" TIMESTAMP(3),

    CONSTRAINT "IntakeStudy_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "AeRoute_projectId_idx" ON "AeRoute"("projectId");

-- CreateIndex
CREATE INDEX "ReceivedInstance_projectId_status_idx" ON "ReceivedInstance"("projectId", "status");

-- CreateIndex
CREATE INDEX "ReceivedInstance_status_receivedAt_idx" ON "ReceivedInstance"("status", "receivedAt");

-- CreateIndex
CREATE INDEX "ReceivedInstance_batchId_idx" ON "ReceivedInstance"("batchId");

-- CreateIndex
CREATE INDEX "ReceivedInstance_studyId_idx" ON "ReceivedInstance"("studyId");

-- CreateIndex
CREATE INDEX "InstanceEvent_instanceId_id_idx" ON "InstanceEvent"("instanceId", "id");

-- CreateIndex
CREATE INDEX "IntakeStudy_status_lastInstanceAt_idx" ON "IntakeStudy"("status", "lastInstanceAt");

-- CreateIndex
CREATE UNIQUE INDEX "IntakeStudy_projectId_studyInstanceUid_key" ON "IntakeStudy"("projectId", "studyInstanceUid");

-- AddForeignKey
ALTER TABLE "ProjectIntake" ADD CONSTRAINT "ProjectIntake_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Project"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "AeRoute" ADD CONSTRAINT "AeRoute_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Project"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ReceivedInstance" ADD CONSTRAINT "ReceivedInstance_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Project"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ReceivedInstance" ADD CONSTRAINT "ReceivedInstance_studyId_fkey" FOREIGN KEY ("studyId") REFERENCES "IntakeStudy"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "InstanceEvent" ADD CONSTRAINT "InstanceEvent_instanceId_fkey" FOREIGN KEY ("instanceId") REFERENCES "ReceivedInstance"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ProjectSopInstance" ADD CONSTRAINT "ProjectSopInstance_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Project"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "IntakeStudy" ADD CONSTRAINT "IntakeStudy_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Project"("id") ON DELETE CASCADE ON UPDATE CASCADE;

