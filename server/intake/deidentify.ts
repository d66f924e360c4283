// Step 3 of intake: de-identify one received instance with its project's settings, store the
// result, and record what happened. Idempotent: a job that runs twice (a retry, a worker killed
// half-way, a re-queue after a Redis restart) does the work once.
import { mkdirSync, renameSync, rmSync } from "node:fs";
import path from "node:path";
import { randomUUID } from "node:crypto";
import type { PrismaClient } from "@/server/db/generated/client";
import { sqlRows } from "@/server/db";
import { deidentify, type DeidConfig } from "@/lib/dicom/deid";
import { compileProfile, parseProfileSpec } from "@/lib/dicom/profile";
import { parseCtpScript } from "@/lib/dicom/ctp/script";
import { openSource } from "@/lib/dicom/source";
import { writeEncodedFile } from "@/lib/dicom/write";
import { PrismaPseudonymStore } from "@/server/dicom/pseudonyms-prisma";
import { patientKeySecrets } from "@/server/secrets";
import { deidentifiedRelPath } from "@/lib/intake/paths";
import { INTAKE_DEFAULTS } from "@/lib/intake/settings";
import { childLog } from "@/lib/log";
import { reasonCodeForDeid } from "@/lib/intake/rules";
import { releaseStaged } from "./staging";
import { fileInStudySql } from "./file-in-study";
import { onExperimentsEvent, onStudyReceived } from "@/server/governor/engine";
import { activeSetting, projectFloorPolicy } from "@/server/deid/floor";
import { holdReason, holdForReview, projectPixelRules } from "@/server/pixels/review";

const log = childLog("intake");

export type DeidStepResult = "deidentified" | "held" | "duplicate" | "skipped" | "quarantined" | "not-pending";

const configCache = new Map<string, { version: string; config: Omit<DeidConfig, "store"> }>();

/**
 * The project's de-identification settings, floor and pixel rules; `version` (when the settings,
 * the site settings, the project's approvals and its pixel rules last changed) says whether the
 * cached ones still hold. Burned-in annotation candidates are flagged (and then held for a pixel
 * review); an image a pixel rule says to blank but that is compressed is flagged too (held, with
 * that reason), not quarantined.
 */
async function projectConfig(prisma: PrismaClient, projectId: string, version: string): Promise<Omit<DeidConfig, "store">> {
  const cached = configCache.get(projectId);
  if (cached?.version === version) return cached.config;
  const settings = await prisma.projectIntake.findUnique({ where: { projectId } });
  const config: Omit<DeidConfig, "store"> = { projectId, burnedIn: "flag", pixelBlankingUnsupported: "flag" };
  const options = parseProfileSpec(settings?.deidProfile ?? INTAKE_DEFAULTS.deidProfile);
  if (settings?.deidScript) config.script = parseCtpScript(settings.deidScript);
  else config.profile = compileProfile(options);
  if (options.includes("cleanPixelData")) config.cleanPixelData = true;
  const pixelScript = await projectPixelRules(prisma, projectId);
  if (pixelScript) config.pixelScript = pixelScript;
  // The site floor every output must pass, with the exceptions approved for exactly this setting.
  config.floor = await projectFloorPolicy(prisma, projectId, activeSetting(settings));
  configCache.set(projectId, { version, config });
  return config;
}

/** One pseudonym store per client, so that each project's UID salt is read once per process. */
const pseudonymStores = new WeakMap<PrismaClient, PrismaPseudonymStore>();
function pseudonymStore(prisma: PrismaClient): PrismaPseudonymStore {
  let store = pseudonymStores.get(prisma);
  if (!store) pseudonymStores.set(prisma, (store = new PrismaPseudonymStore(prisma, patientKeySecrets)));
  return store;
}

// The instance and the version of its project's settings, in one round trip.
const PENDING_INSTANCE_SQL = `
  SELECT i.status::text AS status, i."projectId", i."stagingPath",
    COALESCE(s."updatedAt"::text, '')
      || '|' || COALESCE((SELECT "updatedAt"::text FROM "SiteSettings" WHERE id = 'site'), '')
      || '|' || COALESCE((SELECT max("decidedAt")::text FROM "DeidApproval" a WHERE a."projectId" = i."projectId"), '')
      || '|' || COALESCE((SELECT max(r."updatedAt")::text || '#' || count(*) FROM "PixelRule" r WHERE r."projectId" = i."projectId"), '') AS "settingsVersion"
  FROM "ReceivedInstance" i LEFT JOIN "ProjectIntake" s ON s."projectId" = i."projectId"
  WHERE i.id = $1`;

// Claims the SOP Instance UID in the project; returns the claiming instance (this one, or the first).
const CLAIM_SQL = `
  WITH ins AS (
    INSERT INTO "ProjectSopInstance" ("projectId", "sopInstanceUid", "instanceId") VALUES ($1, $2, $3)
    ON CONFLICT DO NOTHING RETURNING "instanceId")
  SELECT "instanceId" FROM ins
  UNION ALL SELECT "instanceId" FROM "ProjectSopInstance" WHERE "projectId" = $1 AND "sopInstanceUid" = $2
  LIMIT 1`;
const CLAIMED_BY_SQL = `SELECT "instanceId" FROM "ProjectSopInstance" WHERE "projectId" = $1 AND "sopInstanceUid" = $2`;

// Files the de-identified instance in its study (see ./file-in-study).
const FILE_DEIDENTIFIED_SQL = fileInStudySql({ from: "received", set: `"outputPath" = $6`, step: "deidentified", detailParam: 7 });

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
  const [inst] = await sqlRows<{ status: string; projectId: string | null; stagingPath: string; settingsVersion: string }>(prisma, PENDING_INSTANCE_SQL, [instanceId]);
  if (!inst || inst.status !== "received" || !inst.projectId) return "not-pending";
  const projectId = inst.projectId;
  const config = await projectConfig(prisma, projectId, inst.settingsVersion);
  let source;
  try {
    source = openSource(path.join(dataDir, inst.stagingPath));
  } catch {
    await finish(prisma, instanceId, "quarantined", "The staged file is missing or unreadable. Re-send the instance.", { code: "store_error" });
    return "quarantined";
  }
  try {
    const outcome = await deidentify(source, { ...config, store: pseudonymStore(prisma) });
    if (outcome.kind === "skipped") {
      await finish(prisma, instanceId, "skipped", outcome.reason, {});
      releaseStaged(dataDir, inst.stagingPath);
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
    let [claim] = await sqlRows<{ instanceId: string }>(prisma, CLAIM_SQL, [projectId, sopUid, instanceId]);
    // A concurrent claim committed after this statement's snapshot: read it with a new one.
    claim ??= (await sqlRows<{ instanceId: string }>(prisma, CLAIMED_BY_SQL, [projectId, sopUid]))[0];
    if (!claim) throw new Error("SOP Instance UID claim not found");
    if (claim.instanceId !== instanceId) {
      await finish(prisma, instanceId, "duplicate", "The project already holds this instance (same SOP Instance UID); the resend is recorded, not stored twice.", {
        firstInstanceId: claim.instanceId,
      });
      releaseStaged(dataDir, inst.stagingPath);
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

    // Pixels that may show identifying text: held for a pixel review, not filed in a study (so
    // not archived, downloadable, served by DICOMweb or forwarded) until an owner releases them.
    const hold = holdReason(outcome.flags);
    if (hold) return (await holdForReview(prisma, { instanceId, projectId, outputPath: rel, absPath: abs, outcome, hold })) ? "held" : "not-pending";

    const detail = JSON.stringify({ flags: outcome.flags, warnings: outcome.warnings.length, blankedRegions: outcome.blankedRegions });
    const filed = await sqlRows<{ instanceId: string; studyId: string }>(prisma, FILE_DEIDENTIFIED_SQL, [randomUUID(), projectId, outcome.studyInstanceUID, outcome.pseudonym, instanceId, rel, detail]);
    if (!filed.length) return "not-pending";
    // A study's first instance puts its experiment in the project's workflow, if it has one.
    await onStudyReceived(prisma, filed[0]!.studyId).catch((e: Error) => log.warn({ studyId: filed[0]!.studyId, error: e.name }, "could not start the study's workflow; its archiving does"));
    // The original is identifying and no longer needed: deleted now (or after the retention period).
    releaseStaged(dataDir, inst.stagingPath);
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
  const stable = await prisma.$queryRaw<{ id: string }[]>`
    UPDATE "IntakeStudy" s SET status = 'stable', "stableAt" = ${now}
    FROM "Project" p LEFT JOIN "ProjectIntake" i ON i."projectId" = p.id
    WHERE s."projectId" = p.id AND s.status = 'receiving'
      AND s."lastInstanceAt" < (${now}::timestamptz AT TIME ZONE 'UTC') - make_interval(secs => COALESCE(i."stableAfterSeconds", ${INTAKE_DEFAULTS.stableAfterSeconds}::int))
    RETURNING s.id`;
  if (stable.length) {
    log.info({ studies: stable.length }, "studies became stable");
    // Their experiments in a workflow look again (conditions may wait for a complete study).
    const exps = await prisma.archiveExperiment.findMany({ where: { intakeStudyId: { in: stable.map((s) => s.id) } }, select: { id: true } });
    if (exps.length) await onExperimentsEvent(prisma, exps.map((e) => e.id), "event:stable").catch((e: Error) => log.warn({ error: e.name }, "could not queue the workflow evaluations"));
  }
  return stable.length;
}
