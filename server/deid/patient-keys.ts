// The data step of migration 20261204180000_keyed_patient_hash: every project's subjects are
// stored by a keyed hash (lib/dicom/pseudonyms keyedPatientHash) with a per-project secret sealed
// by server/secrets. Run at start after the migrations; PrismaPseudonymStore does the same for a
// project on its first use, so a process started without the key still never reads unkeyed rows.
import type { PrismaClient } from "@/server/db/generated/client";
import { PrismaPseudonymStore } from "@/server/dicom/pseudonyms-prisma";
import { patientKeySecrets } from "@/server/secrets";
import { childLog } from "@/lib/log";

const log = childLog("deid");

/** Creates the missing project secrets and re-keys unkeyed subject rows; returns the projects touched. */
export async function rekeyPatientHashes(prisma: PrismaClient): Promise<number> {
  const rows = await prisma.$queryRaw<{ projectId: string }[]>`
    SELECT p."projectId" FROM "DeidProject" p
    WHERE p."patientKeySecretSealed" IS NULL
       OR EXISTS (SELECT 1 FROM "DeidSubject" s WHERE s."projectId" = p."projectId" AND NOT s."keyed")`;
  if (!rows.length) return 0;
  const store = new PrismaPseudonymStore(prisma, patientKeySecrets);
  for (const { projectId } of rows) await store.patientKey(projectId);
  log.info({ projects: rows.length }, "patient hashes keyed");
  return rows.length;
}
