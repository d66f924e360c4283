-- AlterTable
ALTER TABLE "ArchiveExperiment" ADD COLUMN     "dicomStudyId" TEXT,
ADD COLUMN     "patientBirthDate" TEXT,
ADD COLUMN     "patientSex" TEXT,
ADD COLUMN     "referringPhysicianName" TEXT;

-- AlterTable
ALTER TABLE "ArchiveScan" ADD COLUMN     "seriesDate" TEXT,
ADD COLUMN     "seriesTime" TEXT;

-- AlterTable
ALTER TABLE "ArchiveInstance" ADD COLUMN     "bitsAllocated" INTEGER;
