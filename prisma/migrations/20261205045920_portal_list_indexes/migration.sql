-- CreateIndex
CREATE INDEX "StudyArchive_projectId_queuedAt_studyId_idx" ON "StudyArchive"("projectId", "queuedAt", "studyId");

-- CreateIndex
CREATE INDEX "StudyArchive_projectId_state_queuedAt_studyId_idx" ON "StudyArchive"("projectId", "state", "queuedAt", "studyId");

-- CreateIndex
CREATE INDEX "ArchiveExperiment_intakeStudyId_idx" ON "ArchiveExperiment"("intakeStudyId");

-- CreateIndex
CREATE INDEX "ReceivedInstance_projectId_status_receivedAt_id_idx" ON "ReceivedInstance"("projectId", "status", "receivedAt", "id");
