-- CreateTable
CREATE TABLE "SiteAdminBinding" (
    "email" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "provider" TEXT,
    "subject" TEXT,
    "boundAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "SiteAdminBinding_pkey" PRIMARY KEY ("email")
);
