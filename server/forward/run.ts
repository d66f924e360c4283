// One forward attempt of one study to one destination: queued → sending → verified, or failed with
// a reason and the next attempt (the archive's state machine, lib/forward/state.ts). Only the
// instances without a final delivery record are sent (never twice the same instance to the same
// destination); each outcome is recorded as it comes back, so an attempt cut short resumes.
import { sendDicom } from "@/lib/dicom-net/scu";
import { qidoStudyCount, stowSend, type StowAuth } from "@/lib/forward/stow";
import { findStudyInstanceCount } from "@/lib/dicom-net/find";
import { compileRule } from "@/lib/intake/rules/language";
import { readRuleHeader } from "@/lib/intake/rules/header";
import { DEFAULT_FORWARD_RETRY, failureReason, forwardJobDecision, nextAttemptAt, planDelivery, summarizeFailures, verificationOutcome, type DeliveryOutcome, type PeerCount, type RetryPolicy } from "@/lib/forward/state";
import { childLog } from "@/lib/log";
import type { PrismaClient } from "@/server/db/generated/client";
import { openSecret } from "@/server/secrets";
import { ArchiveInputError } from "@/server/archive/run";
import { uidsFromOutputPath } from "@/lib/archive/state";
import { statSync } from "node:fs";
import path from "node:path";

const log = childLog("forward");

export type ForwardRunResult = "verified" | "sent" | "failed" | "stale";

export interface ForwardRunOptions {
  retry?: RetryPolicy;
  now?: () => Date;
  /** The verification question (default: C-FIND or QIDO-RS to the destination). */
  countAtPeer?: (dest: Destination, studyInstanceUid: string) => Promise<PeerCount>;
}

/** How many instances of the study the destination holds: C-FIND (STUDY level) or a QIDO-RS query. */
export function countAtPeer(dest: Destination, studyInstanceUid: string): Promise<PeerCount> {
  if (dest.kind === "dicom") return findStudyInstanceCount({ host: dest.host!, port: dest.port!, calledAe: dest.calledAe!, callingAe: dest.callingAe ?? "ATRIUM", studyInstanceUid });
  return qidoStudyCount(dest.stowUrl!, stowAuthOf(dest), studyInstanceUid);
}

type Destination = NonNullable<Awaited<ReturnType<PrismaClient["forwardDestination"]["findUnique"]>>>;

export function stowAuthOf(d: Destination): StowAuth {
  if (d.authKind === "none" || !d.secretSealed) return { kind: "none" };
  const secret = openSecret(d.secretSealed, { table: "ForwardDestination", id: d.id, field: "secretSealed" });
  return d.authKind === "bearer" ? { kind: "bearer", token: secret } : { kind: "basic", user: d.authUser ?? "", password: secret };
}

export interface ForwardStudy {
  studyInstanceUid: string;
  instances: { instanceId: string; path: string; sizeBytes: number; sopInstanceUid: string }[];
}

/**
 * The study's de-identified instances as forwarding needs them: path, size and de-identified SOP
 * Instance UID (from the output path). The archive's loadArchiveStudy also reads the transfer syntax
 * of every file whose row lacks it, one file after the other; the C-STORE scan reads every header
 * anyway, so that read (a third of a second per 1,000 instances, bench/forward.ts) is not done here.
 */
export async function loadForwardStudy(prisma: PrismaClient, dataDir: string, studyId: string): Promise<ForwardStudy> {
  const study = await prisma.intakeStudy.findUniqueOrThrow({ where: { id: studyId }, select: { studyInstanceUid: true } });
  const rows = await prisma.$queryRaw<{ id: string; outputPath: string }[]>`
    SELECT "id", "outputPath" FROM "ReceivedInstance"
    WHERE "studyId" = ${studyId} AND "status" = 'deidentified' AND "outputPath" IS NOT NULL
    ORDER BY "id" ASC`;
  if (!rows.length) throw new ArchiveInputError("The study has no de-identified instances to archive (all were quarantined, skipped or deleted).");
  const instances = rows.map((r) => {
    const abs = path.join(dataDir, r.outputPath);
    let sizeBytes: number;
    try {
      sizeBytes = statSync(abs).size;
    } catch {
      throw new ArchiveInputError(`The de-identified file of instance ${r.id} is missing from the data directory; check the data directory (ATRIUM_DATA_DIR) of the workers, then retry.`);
    }
    return { instanceId: r.id, path: abs, sizeBytes, sopInstanceUid: uidsFromOutputPath(r.outputPath).sopInstanceUid };
  });
  return { studyInstanceUid: study.studyInstanceUid, instances };
}

interface DeliveryRow {
  sopInstanceUid: string;
  outcome: DeliveryOutcome;
  status: number | null;
  reason: string | null;
  converted: boolean;
}

/** Records delivery outcomes in one statement (the last outcome per instance; attempts counted). */
async function writeDeliveries(prisma: PrismaClient, destinationId: string, studyId: string, batch: DeliveryRow[]): Promise<void> {
  const rows = [...new Map(batch.map((r) => [r.sopInstanceUid, r])).values()]; // one row per instance per statement
  await prisma.$executeRaw`
    INSERT INTO "ForwardDelivery" ("id", "destinationId", "studyId", "sopInstanceUid", "outcome", "status", "reason", "converted", "attempts", "updatedAt")
    SELECT gen_random_uuid()::text, ${destinationId}, ${studyId}, u.sop, u.outcome::"ForwardOutcome", u.status, u.reason, u.converted, 1, now()
    FROM unnest(${rows.map((r) => r.sopInstanceUid)}::text[], ${rows.map((r) => r.outcome)}::text[], ${rows.map((r) => r.status)}::int[], ${rows.map((r) => r.reason)}::text[], ${rows.map((r) => r.converted)}::bool[])
      AS u(sop, outcome, status, reason, converted)
    ON CONFLICT ("destinationId", "sopInstanceUid") DO UPDATE
      SET "outcome" = EXCLUDED."outcome", "status" = EXCLUDED."status", "reason" = EXCLUDED."reason", "converted" = EXCLUDED."converted",
          "attempts" = "ForwardDelivery"."attempts" + 1, "updatedAt" = now()`;
}

export async function runForwardAttempt(prisma: PrismaClient, dataDir: string, forwardId: string, attempt: number, opts: ForwardRunOptions = {}): Promise<ForwardRunResult> {
  const now = opts.now ?? (() => new Date());
  const row = await prisma.studyForward.findUnique({ where: { id: forwardId }, include: { destination: true } });
  if (!row) return "stale";
  const decision = forwardJobDecision(row, attempt, now());
  if (decision === "stale") return "stale";
  if (decision === "start") {
    const claimed = await prisma.studyForward.updateMany({ where: { id: forwardId, attempts: attempt - 1, state: row.state }, data: { state: "sending", attempts: attempt, startedAt: now(), nextAttemptAt: null, done: 0 } });
    if (!claimed.count) return "stale";
  }
  const mine = { id: forwardId, attempts: attempt, queuedAt: row.queuedAt };
  const dest = row.destination;
  try {
    if (!dest.enabled) throw new Error("The destination is disabled: enable it to forward, then retry.");
    const [study, recordedRows] = await Promise.all([
      loadForwardStudy(prisma, dataDir, row.studyId),
      prisma.forwardDelivery.findMany({ where: { destinationId: dest.id, studyId: row.studyId }, select: { sopInstanceUid: true, outcome: true } }),
    ]);
    const recorded = new Map<string, DeliveryOutcome>(recordedRows.map((d) => [d.sopInstanceUid, d.outcome]));
    const plan = planDelivery(study.instances, recorded);
    // Outcomes are written in batches (one statement per 100 instances or per second, whichever
    // comes first), not one upsert per instance: measured in bench/forward.ts.
    const buffer: DeliveryRow[] = [];
    let flushing: Promise<unknown> = Promise.resolve();
    let lastFlush = Date.now();
    const flush = () => {
      const rows = buffer.splice(0);
      if (!rows.length) return flushing;
      lastFlush = Date.now();
      flushing = flushing.then(() => writeDeliveries(prisma, dest.id, row.studyId, rows));
      flushing.catch(() => undefined); // the error surfaces at the last flush, awaited below
      return flushing;
    };
    const record = (sopInstanceUid: string, outcome: DeliveryOutcome, extra: { status?: number; reason?: string; converted?: boolean } = {}) => {
      buffer.push({ sopInstanceUid, outcome, status: extra.status ?? null, reason: extra.reason ?? null, converted: extra.converted ?? false });
      if (buffer.length >= 100 || Date.now() - lastFlush > 1000) void flush();
    };
    // The filter: evaluated once per instance (filtered instances are recorded and not read again).
    const rule = dest.filter.trim() ? compileRule(dest.filter) : null;
    const toSend = [];
    for (const i of plan.toSend) {
      if (rule) {
        let match: boolean;
        try {
          match = rule.matches(readRuleHeader(i.path));
        } catch {
          record(i.sopInstanceUid, "failed", { reason: "the de-identified file cannot be read to evaluate the filter" });
          continue;
        }
        if (!match) {
          record(i.sopInstanceUid, "filtered");
          continue;
        }
      }
      toSend.push(i);
    }
    // Written while the files are scanned (awaited with the outcomes, before the totals).
    flushing = flushing.then(() => prisma.studyForward.updateMany({ where: mine, data: { total: toSend.length, done: 0 } }));
    flushing.catch(() => undefined);

    let done = 0;
    let failedNow = 0;
    let deliveredNow = 0;
    let progressAt = 0;
    const onOutcome = (sop: string, outcome: DeliveryOutcome, extra: { status?: number; reason?: string; converted?: boolean }) => {
      done++;
      if (outcome === "failed") failedNow++;
      else if (outcome === "success" || outcome === "warning") deliveredNow++;
      record(sop, outcome, extra);
      if (Date.now() - progressAt > 1000) {
        progressAt = Date.now();
        const n = done;
        flushing = flushing.then(() => prisma.studyForward.updateMany({ where: { ...mine, state: "sending" }, data: { done: n } }));
        flushing.catch(() => undefined);
      }
    };
    if (toSend.length) {
      if (dest.kind === "dicom") {
        // Files DICOM cannot frame are recorded as failed with the reason (skipped by the SCU). Their
        // headers are read with the rest of each file as it is sent (the first few are scanned for
        // the presentation contexts).
        const sopOf = new Map(toSend.map((i) => [i.path, i.sopInstanceUid]));
        await sendDicom(
          { unscanned: toSend.map((i) => ({ path: i.path, sizeBytes: i.sizeBytes })) },
          {
            host: dest.host!,
            port: dest.port!,
            calledAe: dest.calledAe!,
            callingAe: dest.callingAe ?? "ATRIUM",
            associations: dest.associations,
            onFile: (o) => {
              const sop = sopOf.get(o.path);
              if (!sop) return;
              onOutcome(sop, o.outcome === "sent" ? "success" : o.outcome === "warning" ? "warning" : "failed", { status: o.status, reason: o.reason, converted: o.converted });
            },
          },
        );
      } else {
        await stowSend(
          toSend.map((i) => ({ path: i.path, sopInstanceUid: i.sopInstanceUid, sizeBytes: i.sizeBytes })),
          { root: dest.stowUrl!, auth: stowAuthOf(dest), onOutcome: (o) => onOutcome(o.sopInstanceUid, o.outcome, { status: o.status, reason: o.reason }) },
        );
      }
    }
    // Verification: ask the receiver how many instances of the study it holds. When every instance
    // of this attempt was delivered, the question is asked while the last outcomes are written
    // (its answer is used only if the recorded totals hold no failure).
    const ask = () => (opts.countAtPeer ?? countAtPeer)(dest, study.studyInstanceUid);
    const early = failedNow === 0 && deliveredNow > 0 ? ask() : undefined;
    early?.catch(() => undefined); // awaited below, or not needed

    await flush();

    // Totals by outcome (and the failures' reasons) counted by PostgreSQL, not read row by row.
    const groups = await prisma.$queryRaw<{ outcome: DeliveryOutcome; reason: string | null; n: number }[]>`
      SELECT "outcome"::text AS "outcome", CASE WHEN "outcome" = 'failed' THEN "reason" END AS "reason", count(*)::int AS "n"
      FROM "ForwardDelivery" WHERE "destinationId" = ${dest.id} AND "studyId" = ${row.studyId}
      GROUP BY 1, 2`;
    const count = (o: DeliveryOutcome) => groups.reduce((a, g) => a + (g.outcome === o ? g.n : 0), 0);
    const totals = { sent: count("success"), warnings: count("warning"), failed: count("failed"), filtered: count("filtered") };
    await prisma.studyForward.updateMany({ where: mine, data: { ...totals, done } });
    if (totals.failed) {
      const failures = groups.filter((g) => g.outcome === "failed").flatMap((g) => Array.from({ length: g.n }, () => ({ reason: g.reason })));
      throw new Error(summarizeFailures(failures, groups.reduce((a, g) => a + g.n, 0)));
    }

    const delivered = totals.sent + totals.warnings;
    const peer = delivered === 0 ? null : await (early ?? ask());
    const outcome = verificationOutcome(delivered, peer);
    if ("error" in outcome) throw new Error(outcome.error);
    const n = await prisma.studyForward.updateMany({
      where: { ...mine, state: "sending" },
      data: { state: outcome.state, verification: outcome.note, finishedAt: now(), lastError: null, nextAttemptAt: null, handedInstances: study.instances.length },
    });
    if (n.count) log.info({ forwardId, destinationId: dest.id, attempt, ...totals, state: outcome.state }, "study forwarded");
    return n.count ? outcome.state : "stale";
  } catch (err) {
    const reason = failureReason(err);
    const next = nextAttemptAt(attempt, now(), opts.retry ?? DEFAULT_FORWARD_RETRY);
    const n = await prisma.studyForward.updateMany({ where: { ...mine, state: "sending" }, data: { state: "failed", lastError: reason, nextAttemptAt: next, verification: null } });
    log.warn({ forwardId, destinationId: dest.id, attempt, error: err instanceof Error ? err.name : "unknown", nextAttemptAt: next?.toISOString() ?? null }, "forward attempt failed");
    return n.count ? "failed" : "stale";
  }
}
