// The DICOM C-STORE listener of the worker process: associations are accepted by the projects'
// AE routes; every stored instance is recorded in PostgreSQL before the sender gets its status.
import path from "node:path";
import { startScp, DIMSE_STATUS, type ScpHandle } from "@/lib/dicom-net/scp";
import type { PrismaClient } from "@/server/db/generated/client";
import { decideCStoreAssociation, decideCStoreInstance } from "@/server/intake/routes";
import { ingestStaged } from "@/server/intake/ingest";
import { metrics } from "@/server/metrics";
import { childLog } from "@/lib/log";
import { maxInstanceBytes, readEnv } from "@/lib/config";

const log = childLog("dicom");

export async function startDicomListener(opts: { prisma: PrismaClient; dataDir: string; port: number; host?: string }): Promise<ScpHandle> {
  const { prisma, dataDir } = opts;
  const { dicomInstances, dicomAssociations } = metrics();
  const env = readEnv();
  const scp = await startScp({
    port: opts.port,
    host: opts.host,
    stagingDir: path.join(dataDir, "staging", "cstore"),
    // Bounds (issue 17): instance size, associations in all and per address, idle associations.
    maxInstanceBytes: maxInstanceBytes(env),
    maxAssociations: env.ATRIUM_DICOM_MAX_ASSOCIATIONS,
    maxAssociationsPerAddress: env.ATRIUM_DICOM_MAX_PER_ADDRESS,
    idleTimeoutMs: env.ATRIUM_DICOM_IDLE_TIMEOUT_S * 1000,
    evictIdleAfterMs: env.ATRIUM_DICOM_EVICT_IDLE_S * 1000,
    async acceptAssociation({ callingAe, calledAe, remoteAddress }) {
      const decision = await decideCStoreAssociation(prisma, callingAe, calledAe, remoteAddress ?? null);
      if (!decision.accept) log.warn({ callingAe, calledAe, reason: decision.reason }, "association refused");
      return decision.accept ? { accept: true } : { accept: false, reason: decision.reason };
    },
    async onStored(stored) {
      // Routed again per instance: a route removed mid-association quarantines instead of guessing.
      const decision = await decideCStoreInstance(prisma, stored.callingAe, stored.calledAe, stored.remoteAddress ?? null);
      await ingestStaged(
        prisma,
        dataDir,
        stored,
        { channel: "cstore", batchId: stored.associationId, callingAe: stored.callingAe, calledAe: stored.calledAe, remoteAddress: stored.remoteAddress },
        !decision.accept
          ? { projectId: null, reason: decision.message, reasonCode: "no_route" }
          : decision.projectId === null
            ? { site: true }
            : { projectId: decision.projectId },
      );
      return DIMSE_STATUS.Success;
    },
    onMetric(m) {
      if (m.kind === "association") dicomAssociations.inc({ outcome: m.outcome });
      if (m.kind === "instance") dicomInstances.inc({ outcome: m.outcome });
    },
  });
  log.info({ port: scp.port }, "DICOM listener started");
  return scp;
}
