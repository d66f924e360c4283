-- CreateEnum
CREATE TYPE "TaskState" AS ENUM ('queued', 'locked', 'submitted', 'done', 'skipped', 'aborted', 'cannot_be_done');

-- CreateEnum
CREATE TYPE "TaskKind" AS ENUM ('read', 'adjudication');

-- CreateEnum
CREATE TYPE "TaskReview" AS ENUM ('accepted', 'returned');

-- AlterTable
ALTER TABLE "Project" ADD COLUMN     "collaboratorsReadTasks" BOOLEAN NOT NULL DEFAULT false;

-- CreateTable
CREATE TABLE "TaskTemplate" (
    "id" TEXT NOT NULL,
    "projectId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "createdById" TEXT,

    CONSTRAINT "TaskTemplate_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "TaskTemplateVersion" (
    "id" TEXT NOT NULL,
    "templateId" TEXT NOT NULL,
    "version" INTEGER NOT NULL,
    "source" TEXT NOT NULL,
    "format" TEXT NOT NULL DEFAULT 'atrium',
    "definition" JSONB NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "createdById" TEXT,

    CONSTRAINT "TaskTemplateVersion_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "TaskGroup" (
    "id" TEXT NOT NULL,
    "projectId" TEXT NOT NULL,
    "label" TEXT NOT NULL,
    "templateVersionId" TEXT NOT NULL,
    "readersPerCase" INTEGER NOT NULL DEFAULT 1,
    "distribution" TEXT NOT NULL DEFAULT 'pool',
    "dueAt" TIMESTAMP(3),
    "lockMinutes" INTEGER NOT NULL DEFAULT 30,
    "review" BOOLEAN NOT NULL DEFAULT false,
    "disagreement" JSONB NOT NULL DEFAULT '{}',
    "query" JSONB,
    "callbackUrl" TEXT,
    "callbackContent" TEXT,
    "callbackFiredAt" TIMESTAMP(3),
    "aborted" BOOLEAN NOT NULL DEFAULT false,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "createdById" TEXT,

    CONSTRAINT "TaskGroup_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "TaskPoolMember" (
    "groupId" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "weight" DOUBLE PRECISION NOT NULL DEFAULT 1,

    CONSTRAINT "TaskPoolMember_pkey" PRIMARY KEY ("groupId","userId")
);

-- CreateTable
CREATE TABLE "Task" (
    "id" TEXT NOT NULL,
    "number" SERIAL NOT NULL,
    "projectId" TEXT NOT NULL,
    "groupId" TEXT,
    "templateVersionId" TEXT NOT NULL,
    "kind" "TaskKind" NOT NULL DEFAULT 'read',
    "caseKey" TEXT NOT NULL,
    "experimentId" TEXT,
    "readerIndex" INTEGER NOT NULL DEFAULT 0,
    "state" "TaskState" NOT NULL DEFAULT 'queued',
    "priority" INTEGER NOT NULL DEFAULT 0,
    "assigneeId" TEXT,
    "readerId" TEXT,
    "lockExpiresAt" TIMESTAMP(3),
    "resolution" JSONB,
    "adjudicates" JSONB,
    "content" JSONB,
    "tags" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "trackingId" TEXT,
    "callbackUrl" TEXT,
    "callbackContent" TEXT,
    "generatorUrl" TEXT,
    "applicationName" TEXT,
    "applicationVersion" TEXT,
    "skipReason" TEXT,
    "review" "TaskReview",
    "reviewComment" TEXT,
    "timeSpentMs" INTEGER NOT NULL DEFAULT 0,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    "startedAt" TIMESTAMP(3),
    "submittedAt" TIMESTAMP(3),
    "doneAt" TIMESTAMP(3),

    CONSTRAINT "Task_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "TaskDraft" (
    "taskId" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "answers" JSONB NOT NULL DEFAULT '{}',
    "annotations" JSONB NOT NULL DEFAULT '[]',
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "TaskDraft_pkey" PRIMARY KEY ("taskId","userId")
);

-- CreateTable
CREATE TABLE "TaskResult" (
    "id" TEXT NOT NULL,
    "taskId" TEXT NOT NULL,
    "version" INTEGER NOT NULL,
    "authorId" TEXT,
    "answers" JSONB NOT NULL,
    "annotations" JSONB NOT NULL,
    "timeSpentMs" INTEGER NOT NULL DEFAULT 0,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "TaskResult_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "TaskCallback" (
    "id" TEXT NOT NULL,
    "taskId" TEXT,
    "groupId" TEXT,
    "url" TEXT NOT NULL,
    "body" TEXT NOT NULL,
    "method" TEXT NOT NULL DEFAULT 'PUT',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "nextAttemptAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "deliveredAt" TIMESTAMP(3),
    "lastError" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "TaskCallback_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "UserApiToken" (
    "id" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "prefix" TEXT NOT NULL,
    "tokenHash" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "revokedAt" TIMESTAMP(3),
    "lastUsedAt" TIMESTAMP(3),

    CONSTRAINT "UserApiToken_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "TaskTemplate_projectId_name_key" ON "TaskTemplate"("projectId", "name");

-- CreateIndex
CREATE UNIQUE INDEX "TaskTemplateVersion_templateId_version_key" ON "TaskTemplateVersion"("templateId", "version");

-- CreateIndex
CREATE INDEX "TaskGroup_projectId_createdAt_idx" ON "TaskGroup"("projectId", "createdAt");

-- CreateIndex
CREATE INDEX "TaskPoolMember_userId_idx" ON "TaskPoolMember"("userId");

-- CreateIndex
CREATE UNIQUE INDEX "Task_number_key" ON "Task"("number");

-- CreateIndex
CREATE INDEX "Task_groupId_state_priority_createdAt_idx" ON "Task"("groupId", "state", "priority", "createdAt");

-- CreateIndex
CREATE INDEX "Task_projectId_experimentId_idx" ON "Task"("projectId", "experimentId");

-- CreateIndex
CREATE INDEX "Task_readerId_state_idx" ON "Task"("readerId", "state");

-- CreateIndex
CREATE INDEX "Task_assigneeId_state_idx" ON "Task"("assigneeId", "state");

-- CreateIndex
CREATE INDEX "Task_groupId_caseKey_idx" ON "Task"("groupId", "caseKey");

-- CreateIndex
CREATE UNIQUE INDEX "Task_groupId_caseKey_kind_readerId_key" ON "Task"("groupId", "caseKey", "kind", "readerId");

-- CreateIndex
CREATE UNIQUE INDEX "TaskResult_taskId_version_key" ON "TaskResult"("taskId", "version");

-- CreateIndex
CREATE INDEX "TaskCallback_deliveredAt_nextAttemptAt_idx" ON "TaskCallback"("deliveredAt", "nextAttemptAt");

-- CreateIndex
CREATE UNIQUE INDEX "UserApiToken_tokenHash_key" ON "UserApiToken"("tokenHash");

-- CreateIndex
CREATE INDEX "UserApiToken_userId_idx" ON "UserApiToken"("userId");

-- AddForeignKey
ALTER TABLE "TaskTemplate" ADD CONSTRAINT "TaskTemplate_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Project"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "TaskTemplateVersion" ADD CONSTRAINT "TaskTemplateVersion_templateId_fkey" FOREIGN KEY ("templateId") REFERENCES "TaskTemplate"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "TaskGroup" ADD CONSTRAINT "TaskGroup_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Project"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "TaskGroup" ADD CONSTRAINT "TaskGroup_templateVersionId_fkey" FOREIGN KEY ("templateVersionId") REFERENCES "TaskTemplateVersion"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "TaskPoolMember" ADD CONSTRAINT "TaskPoolMember_groupId_fkey" FOREIGN KEY ("groupId") REFERENCES "TaskGroup"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "TaskPoolMember" ADD CONSTRAINT "TaskPoolMember_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Task" ADD CONSTRAINT "Task_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Project"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Task" ADD CONSTRAINT "Task_groupId_fkey" FOREIGN KEY ("groupId") REFERENCES "TaskGroup"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Task" ADD CONSTRAINT "Task_templateVersionId_fkey" FOREIGN KEY ("templateVersionId") REFERENCES "TaskTemplateVersion"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Task" ADD CONSTRAINT "Task_assigneeId_fkey" FOREIGN KEY ("assigneeId") REFERENCES "User"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Task" ADD CONSTRAINT "Task_readerId_fkey" FOREIGN KEY ("readerId") REFERENCES "User"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "TaskDraft" ADD CONSTRAINT "TaskDraft_taskId_fkey" FOREIGN KEY ("taskId") REFERENCES "Task"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "TaskDraft" ADD CONSTRAINT "TaskDraft_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "TaskResult" ADD CONSTRAINT "TaskResult_taskId_fkey" FOREIGN KEY ("taskId") REFERENCES "Task"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "TaskResult" ADD CONSTRAINT "TaskResult_authorId_fkey" FOREIGN KEY ("authorId") REFERENCES "User"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "TaskCallback" ADD CONSTRAINT "TaskCallback_taskId_fkey" FOREIGN KEY ("taskId") REFERENCES "Task"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "UserApiToken" ADD CONSTRAINT "UserApiToken_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE;
