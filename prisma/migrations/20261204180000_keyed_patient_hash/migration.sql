-- Keyed patient hash (issue 17 §5). DeidSubject.patientKeyHash was an unkeyed SHA-256 of
-- (projectId, patient key): anyone with the table could test candidate Patient IDs (MRNs). It
-- becomes HMAC-SHA256(project secret, old SHA-256 value); the per-project secret is stored sealed
-- with ATRIUM_SECRET_KEY. Only the schema changes here: the data step (creating each project's
-- secret and re-keying its rows, keyed = false → true) needs the secret key, which the database
-- does not have, so it runs in the application: at start after migrations
-- (server/launch/database rekeyPatientHashes) and, per project, on first use
-- (lib/dicom/pseudonyms-prisma PrismaPseudonymStore.patientKey). Rows stay usable meanwhile: a
-- project is re-keyed in one transaction before any lookup of the new kind.

-- AlterTable
ALTER TABLE "DeidProject" ADD COLUMN     "patientKeySecretSealed" TEXT;

-- AlterTable
ALTER TABLE "DeidSubject" ADD COLUMN     "keyed" BOOLEAN NOT NULL DEFAULT false;

-- CreateIndex
CREATE INDEX "ReceivedInstance_stagingPath_idx" ON "ReceivedInstance"("stagingPath");
