-- CreateEnum
CREATE TYPE "WebhookNodeKind" AS ENUM ('orthanc', 'dicomweb');

-- CreateEnum
CREATE TYPE "WebhookNodeAuth" AS ENUM ('none', 'basic', 'bearer');

-- CreateEnum
CREATE TYPE "WebhookDeliveryStatus" AS ENUM ('accepted', 'pulling', 'done', 'failed');

-- CreateTable
CREATE TABLE "WebhookSource" (
    "id" TEXT NOT NULL,
    "projectId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "secretSealed" TEXT NOT NULL,
    "nodeKind" "WebhookNodeKind" NOT NULL,
    "nodeUrl" TEXT NOT NULL,
    "nodeAuth" "WebhookNodeAuth" NOT NULL DEFAULT 'none',
    "nodeUser" TEXT,
    "nodeSecretSealed" TEXT,
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "createdById" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lastDeliveryAt" TIMESTAMP(3),

    CONSTRAINT "WebhookSource_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "WebhookDelivery" (
    "id" TEXT NOT NULL,
    "sourceId" TEXT NOT NULL,
    "receivedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "signature" TEXT NOT NULL,
    "signedAt" TIMESTAMP(3) NOT NULL,
    "body" JSONB NOT NULL,
    "status" "WebhookDeliveryStatus" NOT NULL DEFAULT 'accepted',
    "instancesListed" INTEGER,
    "instancesPulled" INTEGER NOT NULL DEFAULT 0,
    "instancesFailed" INTEGER NOT NULL DEFAULT 0,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "error" TEXT,
    "finishedAt" TIMESTAMP(3),

    CONSTRAINT "WebhookDelivery_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "WebhookPulledInstance" (
    "deliveryId" TEXT NOT NULL,
    "remoteId" TEXT NOT NULL,
    "instanceId" TEXT,
    "error" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "WebhookPulledInstance_pkey" PRIMARY KEY ("deliveryId","remoteId")
);

-- CreateIndex
CREATE INDEX "WebhookSource_projectId_idx" ON "WebhookSource"("projectId");

-- CreateIndex
CREATE UNIQUE INDEX "WebhookDelivery_signature_key" ON "WebhookDelivery"("signature");

-- CreateIndex
CREATE INDEX "WebhookDelivery_sourceId_receivedAt_idx" ON "WebhookDelivery"("sourceId", "receivedAt");

-- CreateIndex
CREATE INDEX "WebhookDelivery_status_idx" ON "WebhookDelivery"("status");

-- AddForeignKey
ALTER TABLE "WebhookSource" ADD CONSTRAINT "WebhookSource_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Project"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "WebhookSource" ADD CONSTRAINT "WebhookSource_createdById_fkey" FOREIGN KEY ("createdById") REFERENCES "User"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "WebhookDelivery" ADD CONSTRAINT "WebhookDelivery_sourceId_fkey" FOREIGN KEY ("sourceId") REFERENCES "WebhookSource"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "WebhookPulledInstance" ADD CONSTRAINT "WebhookPulledInstance_deliveryId_fkey" FOREIGN KEY ("deliveryId") REFERENCES "WebhookDelivery"("id") ON DELETE CASCADE ON UPDATE CASCADE;
