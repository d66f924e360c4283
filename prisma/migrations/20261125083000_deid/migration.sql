-- CreateTable
CREATE TABLE "DeidProject" (
    "projectId" TEXT NOT NULL,
    "uidSalt" TEXT NOT NULL,
    "mode" TEXT NOT NULL DEFAULT 'pattern',
    "pattern" TEXT NOT NULL DEFAULT 'SUBJ-{0000}',
    "nextSeq" INTEGER NOT NULL DEFAULT 1,
    "dateOffsetScope" TEXT NOT NULL DEFAULT 'subject',
    "dateOffsetMin" INTEGER NOT NULL DEFAULT -3650,
    "dateOffsetMax" INTEGER NOT NULL DEFAULT -365,
    "projectOffset" INTEGER,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "DeidProject_pkey" PRIMARY KEY ("projectId")
);

-- CreateTable
CREATE TABLE "DeidSubject" (
    "id" TEXT NOT NULL,
    "projectId" TEXT NOT NULL,
    "patientKeyHash" TEXT NOT NULL,
    "pseudonym" TEXT NOT NULL,
    "seq" INTEGER,
    "dateOffsetDays" INTEGER NOT NULL,
    "source" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "DeidSubject_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "DeidSubject_projectId_patientKeyHash_key" ON "DeidSubject"("projectId", "patientKeyHash");

-- CreateIndex
CREATE UNIQUE INDEX "DeidSubject_projectId_pseudonym_key" ON "DeidSubject"("projectId", "pseudonym");

