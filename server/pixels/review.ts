// Pixel review: instances whose pixels may show burned-in identifiers are held (status `review`,
// a PixelReview row, their de-identified file written but filed in no study), so that nothing
// downstream — archiving, Browse, downloads, DICOMweb, forwarding, all of which start from a study
// — sees them. An owner looks at the image, blanks rectangles (optionally saved as a pixel rule of
// the project, so that the same scanner model is blanked automatically next time) and releases it
// into its study (which then archives again, merging), or deletes it. Every decision is audited.
// Access is decided by the callers (projectProcedure / requireProjectAccess).
import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { TRPCError } from "@trpc/server";
import type { Prisma, PrismaClient } from "@/server/db/generated/client";
import { writeAudit } from "@/server/audit";
import type { Deidentified } from "@/lib/dicom/deid";
import { parseDicom } from "@/lib/dicom/parse";
import { openSource } from "@/lib/dicom/source";
import type { Region } from "@/lib/dicom/pixel";
import {
  blankReviewedFile,
  checkSignature,
  formatPixelScript,
  imageFacts,
  pixelScriptOf,
  regionsSchema,
  signatureFromConditions,
  SignatureError,
  type ImageFacts,
  type SignatureKeyword,
  type StoredRule,
} from "@/lib/dicom/pixel-rules";
import { frameBytes, pixelInfo } from "@/lib/dicomweb/frames";
import { renderFramePngAsync, RenderError, renderable } from "@/lib/dicomweb/render";
import { fileInStudySql } from "@/server/intake/file-in-study";

export type HoldCode = "burned_in_annotation" | "pixel_blanking_unsupported" | "clean_pixel_data";
export interface Hold {
  code: HoldCode;
  reason: string;
}

/** Whether the engine's flags mean the instance must be held for a pixel review, and why (no values, only codes and syntaxes). */
export function holdReason(flags: string[]): Hold | undefined {
  const flag = (p: string) => flags.find((f) => f.startsWith(`${p}:`));
  const unsupported = flag("pixel_blanking_unsupported");
  if (unsupported) {
    return {
      code: "pixel_blanking_unsupported",
      reason: `A pixel rule of the project says to blank this image, but ${unsupported.slice("pixel_blanking_unsupported:".length).replace(/^Pixel data needs blanking but /, "")}. Held: delete it, or send it uncompressed (or RLE) and delete this copy.`,
    };
  }
  const burned = flag("burned_in_annotation");
  if (burned) {
    return {
      code: "burned_in_annotation",
      reason: `The pixels may show burned-in identifying text (${burned.slice("burned_in_annotation:".length)}). Held for a pixel review: an owner blanks regions and releases it, or deletes it.`,
    };
  }
  if (flag("clean_pixel_data")) {
    return { code: "clean_pixel_data", reason: "The project's Clean Pixel Data option holds every image no pixel rule covers for a pixel review." };
  }
  return undefined;
}

function readFacts(absPath: string): ImageFacts {
  const source = openSource(absPath);
  try {
    return imageFacts(parseDicom(source));
  } finally {
    source.close?.();
  }
}

/**
 * Marks a just de-identified instance (its file written at `outputPath`) as held for review, in one
 * transaction. Returns false when the instance was no longer pending (a concurrent run did it).
 */
export async function holdForReview(
  prisma: PrismaClient,
  a: { instanceId: string; projectId: string; outputPath: string; absPath: string; outcome: Deidentified; hold: Hold },
): Promise<boolean> {
  const facts = readFacts(a.absPath);
  return prisma.$transaction(async (tx) => {
    const u = await tx.receivedInstance.updateMany({
      where: { id: a.instanceId, status: "received" },
      data: { status: "review", outputPath: a.outputPath, reason: a.hold.reason, reasonCode: a.hold.code },
    });
    if (!u.count) return false;
    const row = {
      projectId: a.projectId,
      studyInstanceUid: a.outcome.studyInstanceUID,
      subjectLabel: a.outcome.pseudonym,
      reasonCode: a.hold.code,
      reason: a.hold.reason,
      ...facts,
      heldAt: new Date(),
      decision: null,
      decidedAt: null,
      decidedById: null,
      ruleId: null,
    };
    await tx.pixelReview.upsert({ where: { instanceId: a.instanceId }, create: { instanceId: a.instanceId, ...row }, update: row });
    await tx.instanceEvent.create({
      data: { instanceId: a.instanceId, step: "held", detail: { code: a.hold.code, flags: a.outcome.flags, blankedRegions: a.outcome.blankedRegions } },
    });
    return true;
  });
}

// ---- pixel rules -------------------------------------------------------------------------------

function toStored(r: { id: string; signature: string; regions: Prisma.JsonValue; description: string; enabled: boolean }): StoredRule {
  const regions = regionsSchema.safeParse(r.regions);
  return { id: r.id, signature: r.signature, regions: regions.success ? regions.data : [], description: r.description, enabled: r.enabled };
}

async function loadRules(prisma: Pick<PrismaClient, "pixelRule">, projectId: string) {
  return prisma.pixelRule.findMany({ where: { projectId }, orderBy: [{ position: "asc" }, { createdAt: "asc" }] });
}

/** The project's enabled pixel rules as the engine's pixel script (undefined without any). */
export async function projectPixelRules(prisma: PrismaClient, projectId: string) {
  return pixelScriptOf((await loadRules(prisma, projectId)).map(toStored));
}

export async function listRules(prisma: PrismaClient, projectId: string) {
  const rows = await loadRules(prisma, projectId);
  const stored = rows.map(toStored);
  return {
    items: rows.map((r, i) => ({ ...stored[i]!, position: r.position, createdAt: r.createdAt, updatedAt: r.updatedAt })),
    /** The rules as a CTP DicomPixelAnonymizer script. */
    script: formatPixelScript(stored),
  };
}

function validSignature(signature: string): string {
  try {
    checkSignature(signature);
  } catch (e) {
    if (e instanceof SignatureError) throw new TRPCError({ code: "BAD_REQUEST", message: e.message });
    throw e;
  }
  return signature.trim();
}

export interface RuleSpec {
  signature?: string;
  conditions?: { keyword: SignatureKeyword; value: string }[];
  regions: Region[];
  description?: string;
}

function signatureOf(spec: RuleSpec): string {
  if (spec.signature !== undefined) return validSignature(spec.signature);
  return validSignature(signatureFromConditions(spec.conditions ?? []));
}

/** Adds a rule in front of the others (a reviewer's rule is specific: it must win over broader ones). */
async function insertRule(tx: Prisma.TransactionClient, projectId: string, actorId: string, spec: RuleSpec, via: string) {
  const signature = signatureOf(spec);
  const first = await tx.pixelRule.findFirst({ where: { projectId }, orderBy: { position: "asc" }, select: { position: true } });
  const rule = await tx.pixelRule.create({
    data: { projectId, position: (first?.position ?? 1) - 1, signature, regions: spec.regions as unknown as Prisma.InputJsonValue, description: spec.description ?? "", createdById: actorId },
  });
  await writeAudit(tx, {
    projectId,
    actorId,
    action: "pixels.rule.create",
    targetType: "pixelRule",
    targetId: rule.id,
    after: { signature, regions: spec.regions as unknown as Prisma.InputJsonValue, description: rule.description, via },
  });
  return rule;
}

export async function createRule(prisma: PrismaClient, projectId: string, actorId: string, spec: RuleSpec) {
  const rule = await prisma.$transaction((tx) => insertRule(tx, projectId, actorId, spec, "rules"));
  return { id: rule.id };
}

export async function updateRule(
  prisma: PrismaClient,
  projectId: string,
  actorId: string,
  ruleId: string,
  change: { signature?: string; regions?: Region[]; description?: string; enabled?: boolean },
) {
  return prisma.$transaction(async (tx) => {
    const rule = await tx.pixelRule.findFirst({ where: { id: ruleId, projectId } });
    if (!rule) throw new TRPCError({ code: "NOT_FOUND", message: "This project has no such pixel rule. Reload the list." });
    const data: Prisma.PixelRuleUpdateInput = {};
    const before: Record<string, Prisma.InputJsonValue> = {};
    const after: Record<string, Prisma.InputJsonValue> = {};
    if (change.signature !== undefined && change.signature.trim() !== rule.signature) {
      data.signature = validSignature(change.signature);
      before.signature = rule.signature;
      after.signature = data.signature;
    }
    if (change.regions !== undefined && JSON.stringify(change.regions) !== JSON.stringify(rule.regions)) {
      data.regions = change.regions as unknown as Prisma.InputJsonValue;
      before.regions = rule.regions as Prisma.InputJsonValue;
      after.regions = change.regions as unknown as Prisma.InputJsonValue;
    }
    if (change.description !== undefined && change.description !== rule.description) {
      data.description = change.description;
      before.description = rule.description;
      after.description = change.description;
    }
    if (change.enabled !== undefined && change.enabled !== rule.enabled) {
      data.enabled = change.enabled;
      before.enabled = rule.enabled;
      after.enabled = change.enabled;
    }
    if (!Object.keys(data).length) return { changed: false };
    await tx.pixelRule.update({ where: { id: rule.id }, data });
    await writeAudit(tx, { projectId, actorId, action: "pixels.rule.update", targetType: "pixelRule", targetId: rule.id, before, after });
    return { changed: true };
  });
}

export async function removeRule(prisma: PrismaClient, projectId: string, actorId: string, ruleId: string) {
  return prisma.$transaction(async (tx) => {
    const rule = await tx.pixelRule.findFirst({ where: { id: ruleId, projectId } });
    if (!rule) throw new TRPCError({ code: "NOT_FOUND", message: "This project has no such pixel rule. Reload the list." });
    await tx.pixelRule.delete({ where: { id: rule.id } });
    await writeAudit(tx, {
      projectId,
      actorId,
      action: "pixels.rule.remove",
      targetType: "pixelRule",
      targetId: rule.id,
      before: { signature: rule.signature, regions: rule.regions as Prisma.InputJsonValue, description: rule.description, enabled: rule.enabled },
    });
    return { removed: true };
  });
}

// ---- the held instances ----------------------------------------------------------------------

export async function listHeld(prisma: PrismaClient, projectId: string, input: { reasonCode?: HoldCode; subject?: string; limit: number }) {
  const where: Prisma.PixelReviewWhereInput = {
    projectId,
    decision: null,
    ...(input.reasonCode ? { reasonCode: input.reasonCode } : {}),
    ...(input.subject ? { subjectLabel: input.subject } : {}),
  };
  const [items, total, codes] = await Promise.all([
    prisma.pixelReview.findMany({ where, orderBy: [{ heldAt: "asc" }, { instanceId: "asc" }], take: input.limit }),
    prisma.pixelReview.count({ where }),
    prisma.pixelReview.groupBy({ by: ["reasonCode"], where: { projectId, decision: null }, _count: { _all: true } }),
  ]);
  return {
    items: items.map((r) => ({
      instanceId: r.instanceId,
      subjectLabel: r.subjectLabel,
      studyInstanceUid: r.studyInstanceUid,
      reasonCode: r.reasonCode as HoldCode,
      reason: r.reason,
      sopClassUid: r.sopClassUid,
      modality: r.modality,
      manufacturer: r.manufacturer,
      modelName: r.modelName,
      rows: r.rows,
      columns: r.columns,
      frames: r.frames,
      transferSyntaxUid: r.transferSyntaxUid,
      blankable: r.blankable,
      heldAt: r.heldAt,
    })),
    total,
    reasonCodes: codes.map((c) => ({ code: c.reasonCode as HoldCode, count: c._count._all })),
  };
}

/** Held instances per subject and per study (counts only): the badges of Browse. */
export async function heldCounts(prisma: PrismaClient, projectId: string) {
  const rows = await prisma.pixelReview.groupBy({ by: ["subjectLabel", "studyInstanceUid"], where: { projectId, decision: null }, _count: { _all: true } });
  const bySubject = new Map<string, number>();
  for (const r of rows) bySubject.set(r.subjectLabel, (bySubject.get(r.subjectLabel) ?? 0) + r._count._all);
  return {
    total: rows.reduce((n, r) => n + r._count._all, 0),
    subjects: [...bySubject].map(([subjectLabel, count]) => ({ subjectLabel, count })).sort((a, b) => a.subjectLabel.localeCompare(b.subjectLabel)),
    studies: rows.map((r) => ({ subjectLabel: r.subjectLabel, studyInstanceUid: r.studyInstanceUid, count: r._count._all })),
  };
}

export async function heldInstance(prisma: PrismaClient, projectId: string, instanceId: string) {
  const [inst, review] = await Promise.all([
    prisma.receivedInstance.findFirst({ where: { id: instanceId, projectId, status: "review" } }),
    prisma.pixelReview.findFirst({ where: { instanceId, projectId, decision: null } }),
  ]);
  if (!inst || !review) throw new TRPCError({ code: "NOT_FOUND", message: "No such instance waiting for a pixel review in this project. Reload the list: it may have been released or deleted." });
  return { inst, review };
}

// Files a released instance in its study, as de-identification files any instance (its quarantine
// reason, if any, is cleared).
const FILE_RELEASED_SQL = fileInStudySql({ from: "review", set: `reason = NULL, "reasonCode" = NULL`, step: "released", detailParam: 6 });

/** Whether a region (negative x/y count from the right/bottom edge, as in CTP) covers at least one pixel. */
function regionInside(r: Region, cols: number, rows: number): boolean {
  if (!cols || !rows) return true; // geometry unknown: blanking decides
  const x0 = Math.max(0, r.x < 0 ? cols + r.x : r.x);
  const y0 = Math.max(0, r.y < 0 ? rows + r.y : r.y);
  return Math.min(cols, x0 + r.w) > x0 && Math.min(rows, y0 + r.h) > y0;
}

export interface ReleaseInput {
  regions: Region[];
  /** Save the regions as a pixel rule with this signature (conditions on the image's header). */
  saveRule?: { conditions: { keyword: SignatureKeyword; value: string }[]; description?: string };
}

/**
 * Releases a held instance: blanks `regions` in its file (in place, atomically; with no regions the
 * reviewer judged the pixels clean and the file is left as it is), optionally saves them as a
 * pixel rule, and files it in its study. Audited (pixels.release, and pixels.rule.create).
 */
export async function releaseHeld(prisma: PrismaClient, dataDir: string, projectId: string, instanceId: string, actorId: string, input: ReleaseInput) {
  const { inst, review } = await heldInstance(prisma, projectId, instanceId);
  if (input.regions.length && !review.blankable) {
    throw new TRPCError({
      code: "BAD_REQUEST",
      message: `This image's pixel data is compressed (transfer syntax ${review.transferSyntaxUid}); Atrium cannot blank it. Delete it, or have it sent uncompressed (or RLE Lossless) and review that copy.`,
    });
  }
  // A region must cover part of the image (a typo such as (6400,0,10,10) would blank nothing).
  const outside = input.regions.find((r) => !regionInside(r, review.columns, review.rows));
  if (outside) {
    throw new TRPCError({
      code: "BAD_REQUEST",
      message: `The region (${outside.x},${outside.y},${outside.w},${outside.h}) lies outside this ${review.columns}×${review.rows} image. Draw it on the image again.`,
    });
  }
  // saveRule with no regions is allowed: a rule saying "this signature burns in nothing".
  if (input.regions.length) {
    const abs = path.join(dataDir, inst.outputPath!);
    let bytes: Buffer;
    try {
      bytes = readFileSync(abs);
    } catch {
      throw new TRPCError({ code: "PRECONDITION_FAILED", message: "The held file is missing from the data directory; check ATRIUM_DATA_DIR, or delete this instance and have it sent again." });
    }
    const r = blankReviewedFile(bytes, input.regions);
    if (r.kind === "refused") throw new TRPCError({ code: "BAD_REQUEST", message: `${r.reason}. Delete it instead.` });
    const tmp = `${abs}.${process.pid}.${randomUUID()}.tmp`;
    try {
      writeFileSync(tmp, r.file);
      renameSync(tmp, abs);
    } catch (e) {
      rmSync(tmp, { force: true });
      throw e;
    }
  }
  return prisma.$transaction(async (tx) => {
    let ruleId: string | null = null;
    if (input.saveRule) ruleId = (await insertRule(tx, projectId, actorId, { conditions: input.saveRule.conditions, regions: input.regions, description: input.saveRule.description }, `release of ${instanceId}`)).id;
    const detail = JSON.stringify({ by: actorId, regions: input.regions.length, ruleId });
    const filed = await tx.$queryRawUnsafe<{ instanceId: string }[]>(FILE_RELEASED_SQL, randomUUID(), projectId, review.studyInstanceUid, review.subjectLabel, instanceId, detail);
    if (!filed.length) throw new TRPCError({ code: "CONFLICT", message: "The instance changed meanwhile (released or deleted by someone else). Reload the list." });
    await tx.pixelReview.update({
      where: { instanceId },
      data: { decision: "released", decidedAt: new Date(), decidedById: actorId, regions: input.regions as unknown as Prisma.InputJsonValue, ruleId },
    });
    await writeAudit(tx, {
      projectId,
      actorId,
      action: "pixels.release",
      targetType: "instance",
      targetId: instanceId,
      before: { reasonCode: review.reasonCode },
      after: { regions: input.regions as unknown as Prisma.InputJsonValue, ruleId, studyInstanceUid: review.studyInstanceUid },
    });
    return { released: true, ruleId };
  });
}

/** Deletes a held instance for good: its row, its files, and its claim on the SOP Instance UID (so a clean resend is accepted). Audited. */
export async function deleteHeld(prisma: PrismaClient, dataDir: string, projectId: string, instanceId: string, actorId: string) {
  const { inst, review } = await heldInstance(prisma, projectId, instanceId);
  await prisma.$transaction(async (tx) => {
    const gone = await tx.receivedInstance.deleteMany({ where: { id: inst.id, status: "review" } });
    if (!gone.count) throw new TRPCError({ code: "CONFLICT", message: "The instance changed meanwhile (released or deleted by someone else). Reload the list." });
    await tx.projectSopInstance.deleteMany({ where: { projectId, instanceId: inst.id } });
    await tx.pixelReview.update({ where: { instanceId }, data: { decision: "deleted", decidedAt: new Date(), decidedById: actorId } });
    await writeAudit(tx, {
      projectId,
      actorId,
      action: "pixels.delete",
      targetType: "instance",
      targetId: inst.id,
      before: { reasonCode: review.reasonCode, studyInstanceUid: review.studyInstanceUid, sizeBytes: inst.sizeBytes, receivedAt: inst.receivedAt.toISOString() },
    });
  });
  if (inst.outputPath) rmSync(path.join(dataDir, inst.outputPath), { force: true });
  rmSync(path.join(dataDir, inst.stagingPath), { force: true });
  return { deleted: true };
}

const JPEG_BASELINE = ["1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51"];

/**
 * One frame of a held instance at full size, for the reviewer (the caller checked owner access):
 * PNG for what lib/dicomweb/render decodes; a JPEG Baseline frame as the JPEG itself (the browser
 * decodes it).
 */
export async function renderHeld(prisma: PrismaClient, dataDir: string, projectId: string, instanceId: string, frame: number): Promise<{ contentType: string; body: Buffer }> {
  const { inst } = await heldInstance(prisma, projectId, instanceId);
  let source;
  try {
    source = openSource(path.join(dataDir, inst.outputPath!));
  } catch {
    throw new RenderError(404, "The held file is missing from the data directory; delete this instance and have it sent again.");
  }
  try {
    const file = parseDicom(source);
    const info = pixelInfo(file);
    if (!info) throw new RenderError(406, "This instance has no pixel data to show.");
    if (frame < 1 || frame > info.numberOfFrames) throw new RenderError(400, `Frame ${frame} does not exist: the image has ${info.numberOfFrames} frame(s).`);
    if (info.encapsulated && JPEG_BASELINE.includes(info.transferSyntaxUid)) return { contentType: "image/jpeg", body: Buffer.from(frameBytes(file, info, frame)) };
    const why = renderable(info);
    if (why) throw new RenderError(406, `Atrium cannot show this image: ${why}. Judge it in a DICOM viewer, or delete it.`);
    return { contentType: "image/png", body: await renderFramePngAsync(file, info, frame) };
  } finally {
    source.close?.();
  }
}
