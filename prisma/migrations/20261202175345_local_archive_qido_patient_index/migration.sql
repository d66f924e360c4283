-- CreateIndex
CREATE INDEX "ArchiveExperiment_projectId_patientId_idx" ON "ArchiveExperiment"("projectId", "patientId");
