-- AlterTable
ALTER TABLE "StudyArchive" ADD COLUMN     "verificationNote" TEXT;
