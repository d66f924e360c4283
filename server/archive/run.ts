// One archive attempt of one study: queued → sending → verifying → archived, or failed with a
// reason and the time of the next attempt. Idempotent: a job that is stale (an earlier attempt, an
// archived study) does nothing; a job run again after its worker died resumes its attempt, and the
// driver merges into what it sent before.
import { statSync } from "node:fs";
import path from "node:path";
import type { Prisma, PrismaClient } from "@/server/db/generated/client";
import { experimentLabel, expectedCounts, type ArchiveDriver, type ArchiveStudy } from "@/lib/archive/driver";
import { DEFAULT_ARCHIVE_RETRY, failureReason, jobDecision, nextAttemptAt, uidsFromOutputPath, type RetryPolicy } from "@/lib/archive/state";
import { childLog } from "@/lib/log";
import { readPart10Info } from "@/lib/dicom-net/part10";
import { createArchiveDriver } from "./drivers";
import { onStudyArchived } from "@/server/governor/engine";

const log = childLog("archive");

export type ArchiveRunResult = "archived" | "failed" | "stale";

export interface ArchiveRunOptions {
  retry?: RetryPolicy;
  /** Overrides the target's driver (tests, benchmarks). */
  driver?: ArchiveDriver;
  /** Least time between two progress writes. */
  progressEveryMs?: number;
  now?: () => Date;
}

/** A failure a data manager can act on (raised before anything is sent). */
export class ArchiveInputError extends Error {
  override readonly name = "ArchiveInputError";
}

/** The study as the archive sees it: its de-identified instances, labelled by pseudonyms. */
export async function loadArchiveStudy(prisma: PrismaClient, dataDir: string, studyId: string): Promise<ArchiveStudy> {
  const study = await prisma.intakeStudy.findUniqueOrThrow({ where: { id: studyId } });
  const rows = await prisma.receivedInstance.findMany({
    where: { studyId, status: "deidentified", outputPath: { not: null } },
    select: { id: true, outputPath: true, transferSyntaxUid: true },
    orderBy: { id: "asc" },
  });
  if (!rows.length) throw new ArchiveInputError("The study has no de-identified instances to archive (all were quarantined, skipped or deleted).");
  const instances = [];
  for (const r of rows) {
    const uids = uidsFromOutputPath(r.outputPath!);
    const abs = path.join(dataDir, r.outputPath!);
    let size: number;
    try {
      size = statSync(abs).size;
    } catch {
      throw new ArchiveInputError(`The de-identified file of instance ${r.id} is missing from the data directory; check the data directory (ATRIUM_DATA_DIR) of the workers, then retry.`);
    }
    // De-identification keeps the transfer syntax; when intake did not record it, the file's meta says it.
    const transferSyntaxUid = r.transferSyntaxUid ?? (await readPart10Info(abs).then((i) => i.transferSyntaxUid ?? null, () => null));
    instances.push({ instanceId: r.id, path: abs, sizeBytes: size, seriesInstanceUid: uids.seriesInstanceUid, sopInstanceUid: uids.sopInstanceUid, transferSyntaxUid });
  }
  return {
    studyId,
    projectId: study.projectId,
    studyInstanceUid: study.studyInstanceUid,
    subjectLabel: study.subjectLabel,
    experimentLabel: experimentLabel(study.subjectLabel, study.studyInstanceUid),
    instances,
  };
}

/** Runs attempt `attempt` of a study's archive (the payload of an `archive` job). */
export async function runArchiveAttempt(
  prisma: PrismaClient,
  dataDir: string,
  studyId: string,
  attempt: number,
  opts: ArchiveRunOptions = {},
): Promise<ArchiveRunResult> {
  const now = opts.now ?? (() => new Date());
  const row = await prisma.studyArchive.findUnique({ where: { studyId } });
  if (!row) return "stale";
  const decision = jobDecision(row, attempt, now());
  if (decision === "stale") return "stale";
  if (decision === "start") {
    const claimed = await prisma.studyArchive.updateMany({
      where: { studyId, attempts: attempt - 1, state: row.state },
      data: { state: "sending", attempts: attempt, startedAt: now(), nextAttemptAt: null, doneBytes: 0n, verificationNote: null },
    });
    if (!claimed.count) return "stale";
    await prisma.intakeStudy.updateMany({ where: { id: studyId, status: "failed" }, data: { status: "archiving" } });
  }
  // Writes of this attempt apply only while the row is still this attempt (a re-queue after new
  // instances resets it, and then this attempt's outcome no longer counts).
  const mine = { studyId, attempts: attempt, queuedAt: row.queuedAt };

  let study: ArchiveStudy | undefined;
  let driver: ArchiveDriver | undefined;
  try {
    study = await loadArchiveStudy(prisma, dataDir, studyId);
    const project = await prisma.projectArchiveTarget.findUnique({ where: { projectId: study.projectId } });
    driver = opts.driver ?? createArchiveDriver(prisma, project);
    const totals = expectedCounts(study);
    await prisma.studyArchive.updateMany({ where: mine, data: { state: "sending", targetKind: driver.kind, totalBytes: BigInt(totals.bytes), doneBytes: 0n } });

    // Progress is written at most every `every` ms, the latest value last (a trailing write).
    let lastWrite = 0;
    let latest = 0;
    let timer: NodeJS.Timeout | undefined;
    let pending: Promise<unknown> = Promise.resolve();
    const every = opts.progressEveryMs ?? 1_000;
    const write = () => {
      timer = undefined;
      lastWrite = Date.now();
      const doneBytes = BigInt(Math.min(latest, totals.bytes));
      pending = pending.then(() => prisma.studyArchive.updateMany({ where: { ...mine, state: "sending" }, data: { doneBytes } }).catch(() => undefined));
    };
    let location: string;
    try {
      ({ location } = await driver.send(study, (p) => {
        latest = p.doneBytes;
        if (timer) return;
        const wait = every - (Date.now() - lastWrite);
        if (wait <= 0) write();
        else timer = setTimeout(write, wait);
      }));
    } finally {
      if (timer) clearTimeout(timer);
      await pending;
    }

    await prisma.studyArchive.updateMany({ where: mine, data: { state: "verifying", doneBytes: BigInt(totals.bytes), location } });
    const v = await driver.verify(study);
    if (!v.ok) throw new Error(v.detail ?? `What arrived differs from what was sent (expected ${v.expected.files} files, found ${v.found.files}).`);

    const done = await prisma.$transaction(async (tx) => {
      const n = await tx.studyArchive.updateMany({
        where: { ...mine, state: "verifying" },
        data: { state: "archived", archivedAt: now(), archivedInstances: study!.instances.length, lastError: null, nextAttemptAt: null, location, verificationNote: v.note ?? null },
      });
      // The study is archived unless new instances arrived meanwhile (it is receiving again, and
      // will be archived again, into the same experiment).
      if (n.count) await tx.intakeStudy.updateMany({ where: { id: studyId, status: { in: ["archiving", "failed"] } }, data: { status: "archived" } });
      return n.count > 0;
    });
    if (done) log.info({ studyId, attempt, instances: study.instances.length, bytes: totals.bytes, target: driver.kind }, "study archived");
    // The governor's event: the experiment enters (or re-evaluates in) its project's workflow.
    if (done) await onStudyArchived(prisma, studyId).catch((e: Error) => log.warn({ studyId, error: e.name }, "could not queue the workflow evaluation; the next event or worker start does"));
    return done ? "archived" : "stale";
  } catch (err) {
    const reason = failureReason(err);
    const next = nextAttemptAt(attempt, now(), opts.retry ?? DEFAULT_ARCHIVE_RETRY);
    const failed = await prisma.$transaction(async (tx) => {
      const n = await tx.studyArchive.updateMany({ where: { ...mine, state: { in: ["sending", "verifying"] } }, data: { state: "failed", lastError: reason, nextAttemptAt: next } });
      if (n.count) await tx.intakeStudy.updateMany({ where: { id: studyId, status: "archiving" }, data: { status: "failed" } });
      return n.count > 0;
    });
    // Logged without the message: it may name labels; ids and the error class are enough here.
    log.warn({ studyId, attempt, error: err instanceof Error ? err.name : "unknown", nextAttemptAt: next?.toISOString() ?? null }, "archive attempt failed");
    return failed ? "failed" : "stale";
  } finally {
    await driver?.close?.().catch(() => undefined);
  }
}

/** An owner's retry, inside a transaction: a failed archive is queued again now (a new round of attempts). Returns the row to queue, or null when the study is not failed. */
export async function retryArchiveIn(tx: Prisma.TransactionClient, projectId: string, studyId: string, now = new Date()) {
  const n = await tx.studyArchive.updateMany({
    where: { studyId, projectId, state: "failed" },
    data: { state: "queued", attempts: 0, nextAttemptAt: null, queuedAt: now, doneBytes: 0n },
  });
  if (!n.count) return null;
  await tx.intakeStudy.updateMany({ where: { id: studyId, status: "failed" }, data: { status: "archiving" } });
  return tx.studyArchive.findUniqueOrThrow({ where: { studyId } });
}

export function retryArchive(prisma: PrismaClient, projectId: string, studyId: string, now = new Date()) {
  return prisma.$transaction((tx) => retryArchiveIn(tx, projectId, studyId, now));
}
