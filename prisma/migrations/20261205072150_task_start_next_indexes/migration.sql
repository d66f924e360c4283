-- DropIndex
DROP INDEX "Task_groupId_state_priority_createdAt_idx";

-- CreateIndex
CREATE INDEX "Task_groupId_state_priority_createdAt_id_idx" ON "Task"("groupId", "state", "priority" DESC, "createdAt", "id");

-- CreateIndex
CREATE INDEX "Task_groupId_assigneeId_state_priority_createdAt_id_idx" ON "Task"("groupId", "assigneeId", "state", "priority" DESC, "createdAt", "id");

-- CreateIndex
CREATE INDEX "Task_groupId_state_lockExpiresAt_idx" ON "Task"("groupId", "state", "lockExpiresAt");
