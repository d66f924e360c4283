-- CreateEnum
CREATE TYPE "ArchiveTargetKind" AS ENUM ('local', 'xnat');

-- CreateEnum
CREATE TYPE "ArchiveState" AS ENUM ('queued', 'sending', 'verifying', 'archived', 'failed');

-- AlterTable
ALTER TABLE "Project" ADD COLUMN     "allowCollaboratorDownload" BOOLEAN NOT NULL DEFAULT false;

-- CreateTable
CREATE TABLE "ProjectArchiveTarget" (
    "projectId" TEXT NOT NULL,
    "kind" "ArchiveTargetKind" NOT NULL DEFAULT 'local',
    "xnatUrl" TEXT,
    "xnatProject" TEXT,
    "xnatUser" TEXT,
    "xnatSecretSealed" TEXT,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "ProjectArchiveTarget_pkey" PRIMARY KEY ("projectId")
);

-- CreateTable
CREATE TABLE "StudyArchive" (
    "studyId" TEXT NOT NULL,
    "projectId" TEXT NOT NULL,
    "state" "ArchiveState" NOT NULL DEFAULT 'queued',
    "targetKind" TEXT NOT NULL DEFAULT 'local',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "lastError" TEXT,
    "nextAttemptAt" TIMESTAMP(3),
    "location" TEXT,
    "doneBytes" BIGINT NOT NULL DEFAULT 0,
    "totalBytes" BIGINT NOT NULL DEFAULT 0,
    "archivedInstances" INTEGER NOT NULL DEFAULT 0,
    "queuedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "startedAt" TIMESTAMP(3),
    "archivedAt" TIMESTAMP(3),
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "StudyArchive_pkey" PRIMARY KEY ("studyId")
);

-- CreateTable
CREATE TABLE "ArchiveSubject" (
    "id" TEXT NOT NULL,
    "projectId" TEXT NOT NULL,
    "label" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ArchiveSubject_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ArchiveExperiment" (
    "id" TEXT NOT NULL,
    "projectId" TEXT NOT NULL,
    "subjectId" TEXT NOT NULL,
    "label" TEXT NOT NULL,
    "studyInstanceUid" TEXT NOT NULL,
    "intakeStudyId" TEXT,
    "studyDate" TEXT,
    "studyTime" TEXT,
    "studyDescription" TEXT,
    "accessionNumber" TEXT,
    "patientName" TEXT,
    "patientId" TEXT,
    "modalities" TEXT[],
    "instanceCount" INTEGER NOT NULL DEFAULT 0,
    "sizeBytes" BIGINT NOT NULL DEFAULT 0,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "ArchiveExperiment_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ArchiveScan" (
    "id" TEXT NOT NULL,
    "experimentId" TEXT NOT NULL,
    "seriesInstanceUid" TEXT NOT NULL,
    "seriesNumber" INTEGER,
    "modality" TEXT,
    "seriesDescription" TEXT,
    "instanceCount" INTEGER NOT NULL DEFAULT 0,
    "sizeBytes" BIGINT NOT NULL DEFAULT 0,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ArchiveScan_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ArchiveInstance" (
    "id" TEXT NOT NULL,
    "scanId" TEXT NOT NULL,
    "sopInstanceUid" TEXT NOT NULL,
    "sopClassUid" TEXT NOT NULL,
    "transferSyntaxUid" TEXT NOT NULL,
    "instanceNumber" INTEGER,
    "rows" INTEGER,
    "columns" INTEGER,
    "numberOfFrames" INTEGER,
    "blobKey" TEXT NOT NULL,
    "sizeBytes" BIGINT NOT NULL,
    "sha256" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ArchiveInstance_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "StudyArchive_projectId_state_idx" ON "StudyArchive"("projectId", "state");

-- CreateIndex
CREATE INDEX "StudyArchive_state_nextAttemptAt_idx" ON "StudyArchive"("state", "nextAttemptAt");

-- CreateIndex
CREATE UNIQUE INDEX "ArchiveSubject_projectId_label_key" ON "ArchiveSubject"("projectId", "label");

-- CreateIndex
CREATE INDEX "ArchiveExperiment_projectId_studyDate_idx" ON "ArchiveExperiment"("projectId", "studyDate");

-- CreateIndex
CREATE INDEX "ArchiveExperiment_subjectId_idx" ON "ArchiveExperiment"("subjectId");

-- CreateIndex
CREATE UNIQUE INDEX "ArchiveExperiment_projectId_studyInstanceUid_key" ON "ArchiveExperiment"("projectId", "studyInstanceUid");

-- CreateIndex
CREATE UNIQUE INDEX "ArchiveExperiment_projectId_label_key" ON "ArchiveExperiment"("projectId", "label");

-- CreateIndex
CREATE UNIQUE INDEX "ArchiveScan_experimentId_seriesInstanceUid_key" ON "ArchiveScan"("experimentId", "seriesInstanceUid");

-- CreateIndex
CREATE UNIQUE INDEX "ArchiveInstance_scanId_sopInstanceUid_key" ON "ArchiveInstance"("scanId", "sopInstanceUid");

-- AddForeignKey
ALTER TABLE "ProjectArchiveTarget" ADD CONSTRAINT "ProjectArchiveTarget_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Project"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "StudyArchive" ADD CONSTRAINT "StudyArchive_studyId_fkey" FOREIGN KEY ("studyId") REFERENCES "IntakeStudy"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "StudyArchive" ADD CONSTRAINT "StudyArchive_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Project"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ArchiveSubject" ADD CONSTRAINT "ArchiveSubject_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Project"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ArchiveExperiment" ADD CONSTRAINT "ArchiveExperiment_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Project"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ArchiveExperiment" ADD CONSTRAINT "ArchiveExperiment_subjectId_fkey" FOREIGN KEY ("subjectId") REFERENCES "ArchiveSubject"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ArchiveScan" ADD CONSTRAINT "ArchiveScan_experimentId_fkey" FOREIGN KEY ("experimentId") REFERENCES "ArchiveExperiment"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ArchiveInstance" ADD CONSTRAINT "ArchiveInstance_scanId_fkey" FOREIGN KEY ("scanId") REFERENCES "ArchiveScan"("id") ON DELETE CASCADE ON UPDATE CASCADE;
