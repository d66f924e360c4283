// Task results to the archive: when a task is done (and on an owner's request), its latest result
// version's measurements become a DICOM SR (TID 1500) and its brush labelmaps DICOM SEGs
// (lib/tasks/sr.ts, seg.ts), placed in the task's experiment through the project's archive driver
// (the local archive's index and blob store, or its XNAT), so they are archived, browsable,
// served by DICOMweb and downloadable like the acquired series.
//
// Data flow: TaskResult.annotations → lib/tasks/export-plan (per context: SR, SEGs; stable UIDs)
// → the referenced images' headers from the archive (ArchiveInstance → blob → source-image)
// → Part 10 bytes → a temporary directory → ArchiveDriver.send + verify → TaskResult.exports
// (or exportError, saying what to do). A result with nothing to export writes nothing.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Prisma, PrismaClient } from "@/server/db/generated/client";
import { writeAudit } from "@/server/audit";
import { createArchiveDriver } from "@/server/archive/drivers";
import { archiveBlobStore } from "@/lib/blob";
import { childLog } from "@/lib/log";
import type { Annotation } from "@/lib/tasks/answers";
import { exportPlan, referencedImages, type ExportItem, type TaskExportRecord } from "@/lib/tasks/export-plan";
import { segmentation, type SegSourceImage } from "@/lib/tasks/seg";
import { sourceImageOf } from "@/lib/tasks/source-image";
import { measurementReport, ReportError, type ReportStudy } from "@/lib/tasks/sr";
import { TaskTemplate } from "@/lib/tasks/template";

const log = childLog("task-export");

export interface TaskExportOutcome {
  version: number | null;
  exports: TaskExportRecord[];
  error: string | null;
}

/** Why an export failed, for the data manager (never a patient value: messages are Atrium's own). */
function reasonOf(e: unknown): string {
  if (e instanceof ReportError) return e.message;
  const err = e as { name?: string; message?: string; code?: string };
  if (err.name === "DicomParseError") return `An annotated image in the archive cannot be read as DICOM (${err.code ?? "unreadable"}); the result stays in Atrium as JSON.`;
  if (err.name === "LocalArchiveError" || err.name === "ArchiveTargetError" || err.name === "XnatError") return err.message ?? "The archive refused the export.";
  return "The archive could not store the export; try again from the task's History (Export again), or see the worker log.";
}

/**
 * Exports the task's latest result version (or `version`) to the archive and records the outcome
 * on that version. Never throws for a result that cannot be exported: the reason is recorded.
 */
export async function exportTaskResult(prisma: PrismaClient, taskId: string, opts: { version?: number; actorId?: string | null } = {}): Promise<TaskExportOutcome> {
  const task = await prisma.task.findUnique({
    where: { id: taskId },
    select: {
      id: true,
      number: true,
      projectId: true,
      experimentId: true,
      templateVersion: { select: { format: true, definition: true } },
      results: { where: opts.version ? { version: opts.version } : {}, orderBy: { version: "desc" }, take: 1, select: { id: true, version: true, annotations: true, author: { select: { email: true, name: true } } } },
    },
  });
  const result = task?.results[0];
  if (!task || !result) return { version: null, exports: [], error: null };
  const plan =
    task.templateVersion.format === "atrium" && task.experimentId
      ? exportPlan(TaskTemplate.parse(task.templateVersion.definition), (result.annotations ?? []) as unknown as Annotation[], { id: result.id, version: result.version, taskNumber: task.number })
      : [];
  // Nothing to write: said (and audited) when someone asked for it, silent when a task just ended.
  if (plan.length === 0 && opts.actorId === undefined) return { version: result.version, exports: [], error: null };

  let exports: TaskExportRecord[] = [];
  let error: string | null = null;
  const dir = await mkdtemp(path.join(tmpdir(), "atrium-task-export-"));
  try {
    if (plan.length === 0) throw new ReportError("This version has no measurement or painted segmentation to export (or its template is not an Atrium template, or the task has no experiment).");
    const experiment = await prisma.archiveExperiment.findUniqueOrThrow({ where: { id: task.experimentId! }, include: { subject: { select: { label: true } } } });
    const sops = referencedImages(plan);
    const rows = await prisma.archiveInstance.findMany({
      where: { sopInstanceUid: { in: sops }, scan: { experimentId: experiment.id } },
      select: { sopInstanceUid: true, blobKey: true, scan: { select: { seriesInstanceUid: true } } },
    });
    const store = archiveBlobStore();
    const images = new Map<string, SegSourceImage>();
    for (const r of rows) {
      const header = sourceImageOf(await store.read(r.blobKey));
      images.set(r.sopInstanceUid, { ...header, sopInstanceUid: r.sopInstanceUid, seriesInstanceUid: r.scan.seriesInstanceUid });
    }
    const study: ReportStudy = {
      studyInstanceUid: experiment.studyInstanceUid,
      patientName: experiment.patientName,
      patientId: experiment.patientId,
      patientBirthDate: experiment.patientBirthDate,
      patientSex: experiment.patientSex,
      studyDate: experiment.studyDate,
      studyTime: experiment.studyTime,
      studyId: experiment.dicomStudyId,
      accessionNumber: experiment.accessionNumber,
      referringPhysicianName: experiment.referringPhysicianName,
    };
    const observer = result.author?.name || result.author?.email || "Atrium reader";
    const at = new Date();
    const files = [];
    const leftOut = new Map<string, number>();
    const referable = plan.flatMap((item): ExportItem[] => {
      if (item.kind !== "sr") return [item];
      const measurements = item.measurements.filter((m) => m.ref.sopInstanceUid && images.get(m.ref.sopInstanceUid)?.frameOfReferenceUid);
      leftOut.set(item.sopInstanceUid, item.measurements.length - measurements.length);
      return measurements.length ? [{ ...item, measurements }] : [];
    });
    if (referable.length === 0) throw new ReportError("No measurement of this result is on an archived image (they were drawn on reformatted views, or the images are not in Atrium's archive index); the result stays in Atrium as JSON.");
    for (const item of referable) {
      const common = { study, seriesDescription: item.seriesDescription, seriesNumber: item.seriesNumber, seriesInstanceUid: item.seriesInstanceUid, sopInstanceUid: item.sopInstanceUid, at };
      const bytes =
        item.kind === "sr"
          ? measurementReport({ ...common, images, measurements: item.measurements, observer })
          : segmentation({ ...common, images, labelmap: item.labelmap, labels: item.labels, creator: observer });
      const file = path.join(dir, `${item.sopInstanceUid}.dcm`);
      await writeFile(file, bytes);
      files.push({ instanceId: `task-result:${result.id}:${item.sopInstanceUid}`, path: file, sizeBytes: bytes.length, seriesInstanceUid: item.seriesInstanceUid, sopInstanceUid: item.sopInstanceUid, transferSyntaxUid: "1.2.840.10008.1.2.1" });
    }
    const target = await prisma.projectArchiveTarget.findUnique({ where: { projectId: task.projectId } });
    const driver = createArchiveDriver(prisma, target);
    const archiveStudy = { studyId: experiment.intakeStudyId ?? "", projectId: task.projectId, studyInstanceUid: experiment.studyInstanceUid, subjectLabel: experiment.subject.label, experimentLabel: experiment.label, instances: files };
    try {
      const { location } = await driver.send(archiveStudy);
      const check = await driver.verify(archiveStudy);
      if (!check.ok) throw new ReportError(`The archive does not hold the exported objects after sending (${check.detail ?? "counts differ"}); try Export again.`);
      exports = referable.map((item) => ({
        kind: item.kind,
        context: item.context,
        seriesInstanceUid: item.seriesInstanceUid,
        sopInstanceUid: item.sopInstanceUid,
        seriesNumber: item.seriesNumber,
        seriesDescription: item.seriesDescription,
        items: item.kind === "sr" ? item.measurements.length : new Set(item.labelmap.slices.flatMap((s) => s.runs.map((r) => r[2]))).size,
        leftOut: leftOut.get(item.sopInstanceUid) ?? 0,
        location,
      }));
    } finally {
      await driver.close?.();
    }
  } catch (e) {
    error = reasonOf(e);
    log.warn({ taskId, version: result.version, error: (e as Error).name }, "task result export failed");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  await prisma.$transaction(async (tx) => {
    await tx.taskResult.update({ where: { id: result.id }, data: { exports: exports as unknown as Prisma.InputJsonValue, exportError: error } });
    await writeAudit(tx, {
      projectId: task.projectId,
      actorId: opts.actorId ?? null,
      action: "task.export",
      targetType: "Task",
      targetId: taskId,
      after: { version: result.version, objects: exports.map((x) => `${x.kind}:${x.sopInstanceUid}`), ...(error ? { error } : {}) },
    });
  });
  return { version: result.version, exports, error };
}
