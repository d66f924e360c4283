// Intake for archive tests: stage sample files into a data directory and record them as a receiver
// would (then de-identify them directly or through the workers).
import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
import { createHash, randomBytes } from "node:crypto";
import path from "node:path";
import type { PrismaClient } from "@/server/db/generated/client";
import { recordReceived } from "@/server/intake/receive";

export async function stageFile(prisma: PrismaClient, dataDir: string, projectId: string, source: string, batchId = "archive-test") {
  const dir = path.join(dataDir, "staging", "test");
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${randomBytes(8).toString("hex")}.dcm`);
  copyFileSync(source, file);
  const bytes = readFileSync(file);
  return recordReceived(
    prisma,
    dataDir,
    { path: file, sizeBytes: bytes.length, sha256: createHash("sha256").update(bytes).digest("hex") },
    { channel: "cstore", batchId, callingAe: "TESTSCU", calledAe: projectId },
    { projectId },
  );
}
