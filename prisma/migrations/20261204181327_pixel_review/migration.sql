-- Burned-in identifiers in pixels: instances held for a pixel review, and the project pixel rules.
ALTER TYPE "InstanceStatus" ADD VALUE 'review';

CREATE TABLE "PixelRule" (
    "id" TEXT NOT NULL,
    "projectId" TEXT NOT NULL,
    "position" INTEGER NOT NULL,
    "signature" TEXT NOT NULL,
    "regions" JSONB NOT NULL,
    "description" TEXT NOT NULL DEFAULT '',
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "createdById" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "PixelRule_pkey" PRIMARY KEY ("id")
);

CREATE TABLE "PixelReview" (
    "instanceId" TEXT NOT NULL,
    "projectId" TEXT NOT NULL,
    "studyInstanceUid" TEXT NOT NULL,
    "subjectLabel" TEXT NOT NULL,
    "reasonCode" TEXT NOT NULL,
    "reason" TEXT NOT NULL,
    "sopClassUid" TEXT NOT NULL DEFAULT '',
    "modality" TEXT NOT NULL DEFAULT '',
    "manufacturer" TEXT NOT NULL DEFAULT '',
    "modelName" TEXT NOT NULL DEFAULT '',
    "rows" INTEGER NOT NULL DEFAULT 0,
    "columns" INTEGER NOT NULL DEFAULT 0,
    "frames" INTEGER NOT NULL DEFAULT 1,
    "transferSyntaxUid" TEXT NOT NULL DEFAULT '',
    "blankable" BOOLEAN NOT NULL DEFAULT true,
    "heldAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "decision" TEXT,
    "decidedAt" TIMESTAMP(3),
    "decidedById" TEXT,
    "regions" JSONB,
    "ruleId" TEXT,

    CONSTRAINT "PixelReview_pkey" PRIMARY KEY ("instanceId")
);

CREATE INDEX "PixelRule_projectId_position_idx" ON "PixelRule"("projectId", "position");
CREATE INDEX "PixelReview_projectId_decision_idx" ON "PixelReview"("projectId", "decision");
ALTER TABLE "PixelRule" ADD CONSTRAINT "PixelRule_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Project"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "PixelReview" ADD CONSTRAINT "PixelReview_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Project"("id") ON DELETE CASCADE ON UPDATE CASCADE;
