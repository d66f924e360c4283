-- CreateTable
CREATE TABLE "ExpectedProtocol" (
    "projectId" TEXT NOT NULL,
    "source" TEXT NOT NULL,
    "definition" JSONB NOT NULL,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    "updatedById" TEXT,

    CONSTRAINT "ExpectedProtocol_pkey" PRIMARY KEY ("projectId")
);

-- AddForeignKey
ALTER TABLE "ExpectedProtocol" ADD CONSTRAINT "ExpectedProtocol_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Project"("id") ON DELETE CASCADE ON UPDATE CASCADE;
