-- AlterTable
ALTER TABLE "ArchiveInstance" ADD COLUMN     "geometry" JSONB;
