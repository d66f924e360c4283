// Step 3 of intake: de-identify one received instance with its project's settings, store the
// result, and record what happened. Idempotent: a job that runs twice (a retry, a worker killed
// half-way, a re-queue after a Redis restart) does the work once.
import { mkdirSync, renameSync, rmSync } from "node:fs";
import path from "node:path";
import type { PrismaClient } from "@/server/db/generated/client";
import { deidentify, type DeidConfig } from "@/lib/dicom/deid";
import { compileProfile, parseProfileSpec } from "@/lib/dicom/profile";
import { parseCtpScript } from "@/lib/dicom/ctp/script";
import { openSource } from "@/lib/dicom/source";
import { writeEncodedFile } from "@/lib/dicom/write";
import { PrismaPseudonymStore } from "@/lib/dicom/pseudonyms-prisma";
import { deidentifiedRelPath } from "@/lib/intake/paths";
import { INTAKE_DEFAULTS } from "@/lib/intake/settings";
import { childLog } from "@/lib/log";
import { reasonCodeForDeid } from "@/lib/intake/rules";

const log = childLog("intake");

export type DeidStepResult = "deidentified" | "duplicate" | "skipped" | "quarantined" | "not-pending";

const configCache = new Map<string, { key: string; config: Omit<DeidConfig, "store"> }>();

async function projectConfig(prisma: PrismaClient, projectId: string): Promise<Omit<DeidConfig, "store">> {
  const settings = await prisma.projectIntake.findUnique({ where: { projectId } });
  const key = settings ? `${settings.updatedAt.getTime()}` : "default";
  const cached = configCache.get(projectId);
  if (cached?.key === key) return cached.config;
  const config: Omit<DeidConfig, "store"> = { projectId, burnedIn: "flag" };
  if (settings?.deidScript) config.script = parseCtpScript(settings.deidScript);
  else config.profile = compileProfile(parseProfileSpec(settings?.deidProfile ?? INTAKE_DEFAULTS.deidProfile));
  configCache.set(projectId, { key, config });
  return config;
}

async function finish(
  prisma: PrismaClient,
  instanceId: string,
  status: "skipped" | "quarantined" | "duplicate",
  reason: string,
  detail: Record<string, string>,
) {
  await prisma.receivedInstance.update({
    where: { id: instanceId },
    data: {
      status,
      reason,
      reasonCode: status === "quarantined" ? reasonCodeForDeid(detail.code ?? "") : null,
      events: { create: { step: status, detail: { reason, ...detail } } },
    },
  });
}

export async function deidentifyInstance(prisma: PrismaClient, dataDir: string, instanceId: string): Promise<DeidStepResult> {
  const inst = await prisma.receivedInstance.findUnique({ where: { id: instanceId } });
  if (!inst || inst.status !== "received" || !inst.projectId) return "not-pending";
  const projectId = inst.projectId;
  const config = await projectConfig(prisma, projectId);
  let source;
  try {
    source = openSource(path.join(dataDir, inst.stagingPath));
  } catch {
    await finish(prisma, instanceId, "quarantined", "The staged file is missing or unreadable. Re-send the instance.", { code: "store_error" });
    return "quarantined";
  }
  try {
    const outcome = await deidentify(source, { ...config, store: new PrismaPseudonymStore(prisma) });
    if (outcome.kind === "skipped") {
      await finish(prisma, instanceId, "skipped", outcome.reason, {});
      return "skipped";
    }
    if (outcome.kind === "quarantined") {
      const reason = outcome.elementPath ? `${outcome.reason} (at ${outcome.elementPath})` : outcome.reason;
      await finish(prisma, instanceId, "quarantined", reason, { code: outcome.code });
      return "quarantined";
    }

    if (!outcome.studyInstanceUID || !outcome.seriesInstanceUID) {
      await finish(
        prisma,
        instanceId,
        "quarantined",
        "The instance has no Study or Series Instance UID, so it cannot be filed in a study. Fix it at the source and send it again.",
        { code: "missing_uid" },
      );
      return "quarantined";
    }

    // One copy per SOP Instance UID per project. The de-identified UID is a keyed hash of the
    // original, so it identifies a resend without keeping the original in this table.
    const sopUid = outcome.sopInstanceUID;
    await prisma.$executeRaw`INSERT INTO "ProjectSopInstance" ("projectId", "sopInstanceUid", "instanceId") VALUES (${projectId}, ${sopUid}, ${instanceId}) ON CONFLICT DO NOTHING`;
    const claim = await prisma.projectSopInstance.findUniqueOrThrow({ where: { projectId_sopInstanceUid: { projectId, sopInstanceUid: sopUid } } });
    if (claim.instanceId !== instanceId) {
      await finish(prisma, instanceId, "duplicate", "The project already holds this instance (same SOP Instance UID); the resend is recorded, not stored twice.", {
        firstInstanceId: claim.instanceId,
      });
      return "duplicate";
    }

    const rel = deidentifiedRelPath(projectId, outcome.studyInstanceUID, outcome.seriesInstanceUID, sopUid);
    const abs = path.join(dataDir, rel);
    mkdirSync(path.dirname(abs), { recursive: true });
    const tmp = `${abs}.${process.pid}.tmp`;
    try {
      writeEncodedFile(outcome.encoded, tmp);
      renameSync(tmp, abs);
    } catch (e) {
      rmSync(tmp, { force: true });
      throw e;
    }

    await prisma.$transaction(async (tx) => {
      const study = await tx.intakeStudy.upsert({
        where: { projectId_studyInstanceUid: { projectId, studyInstanceUid: outcome.studyInstanceUID } },
        create: { projectId, studyInstanceUid: outcome.studyInstanceUID, subjectLabel: outcome.pseudonym, instanceCount: 1 },
        // A new instance for a study that was already handed on makes it receive again; the
        // archive step merges it into the same experiment.
        update: { instanceCount: { increment: 1 }, lastInstanceAt: new Date(), status: "receiving", stableAt: null },
      });
      await tx.receivedInstance.update({
        where: { id: instanceId },
        data: {
          status: "deidentified",
          outputPath: rel,
          studyId: study.id,
          events: {
            create: {
              step: "deidentified",
              detail: { studyId: study.id, flags: outcome.flags, warnings: outcome.warnings.length, blankedRegions: outcome.blankedRegions },
            },
          },
        },
      });
    });
    return "deidentified";
  } finally {
    source.close?.();
  }
}

/**
 * After the last attempt of a job failed unexpectedly: the instance is not left waiting forever,
 * it goes to quarantine with what happened, and can be retried from there.
 */
export async function quarantineAfterFailure(prisma: PrismaClient, instanceId: string, error: Error) {
  await prisma.receivedInstance.updateMany({
    where: { id: instanceId, status: "received" },
    data: { status: "quarantined", reasonCode: "deid_failed", reason: `De-identification failed unexpectedly (${error.name}). Retry it from the quarantine list; tell your administrator if it fails again.` },
  });
  await prisma.instanceEvent.create({ data: { instanceId, step: "failed", detail: { error: error.name } } }).catch(() => undefined);
}

/**
 * Studies quiet for their project's stable period become stable; returns how many did.
 * Prisma keeps DateTime as UTC in timestamp-without-zone columns, so `now` is compared in UTC
 * whatever the server's TimeZone setting.
 */
export async function markStableStudies(prisma: PrismaClient, now = new Date()): Promise<number> {
  const n = await prisma.$executeRaw`
    UPDATE "IntakeStudy" s SET status = 'stable', "stableAt" = ${now}
    FROM "Project" p LEFT JOIN "ProjectIntake" i ON i."projectId" = p.id
    WHERE s."projectId" = p.id AND s.status = 'receiving'
      AND s."lastInstanceAt" < (${now}::timestamptz AT TIME ZONE 'UTC') - make_interval(secs => COALESCE(i."stableAfterSeconds", ${INTAKE_DEFAULTS.stableAfterSeconds}::int))`;
  if (n) log.info({ studies: n }, "studies became stable");
  return n;
}
