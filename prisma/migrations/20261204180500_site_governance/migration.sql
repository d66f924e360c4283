-- Site governance (issue #17 §1): which projects take part in site AE routing and in what order,
-- and who may create projects.

-- CreateEnum
CREATE TYPE "ProjectCreationPolicy" AS ENUM ('all', 'admins');

-- AlterTable
ALTER TABLE "SiteSettings" ADD COLUMN "projectCreation" "ProjectCreationPolicy";

-- CreateTable
CREATE TABLE "SiteRoutingProject" (
    "projectId" TEXT NOT NULL,
    "position" INTEGER NOT NULL,
    "enabledAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "enabledById" TEXT,

    CONSTRAINT "SiteRoutingProject_pkey" PRIMARY KEY ("projectId")
);

-- CreateIndex
CREATE INDEX "SiteRoutingProject_position_idx" ON "SiteRoutingProject"("position");

-- AddForeignKey
ALTER TABLE "SiteRoutingProject" ADD CONSTRAINT "SiteRoutingProject_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Project"("id") ON DELETE CASCADE ON UPDATE CASCADE;
