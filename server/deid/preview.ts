// The owners' before/after preview of a de-identification setting on a sample of the project.
// The original values shown are identifying: the procedure is for owners only, and every view is
// audited ("deid.preview") like the original-header view of quarantined instances.
import { existsSync, statSync } from "node:fs";
import { createHash } from "node:crypto";
import path from "node:path";
import { TRPCError } from "@trpc/server";
import type { PrismaClient } from "@/server/db/generated/client";
import { writeAudit } from "@/server/audit";
import { openSource } from "@/lib/dicom/source";
import { DicomParseError } from "@/lib/dicom/parse";
import { parseCtpScript } from "@/lib/dicom/ctp/script";
import { compileProfile, parseProfileSpec } from "@/lib/dicom/profile";
import { previewSetting } from "@/lib/dicom/preview";
import { MAX_PREVIEW_SAMPLE_BYTES, type PreviewDeidInput } from "@/lib/intake/preview";
import { INTAKE_DEFAULTS } from "@/lib/intake/settings";
import { activeSetting, projectFloorPolicy } from "./floor";

export async function previewForOwner(prisma: PrismaClient, dataDir: string, actorId: string, input: PreviewDeidInput) {
  const stored = await prisma.projectIntake.findUnique({ where: { projectId: input.projectId } });
  const active = activeSetting(
    input.deidScript || input.deidProfile
      ? { deidProfile: input.deidProfile ?? stored?.deidProfile ?? INTAKE_DEFAULTS.deidProfile, deidScript: input.deidScript ?? null }
      : stored,
  );
  let source;
  let target: { type: string; id: string };
  if (input.instanceId) {
    const inst = await prisma.receivedInstance.findFirst({ where: { id: input.instanceId, projectId: input.projectId } });
    if (!inst) throw new TRPCError({ code: "NOT_FOUND", message: "No such instance in this project. Choose another sample, or upload one." });
    const file = path.join(dataDir, inst.stagingPath);
    if (!existsSync(file)) throw new TRPCError({ code: "NOT_FOUND", message: "The received file of this instance is no longer kept. Choose another sample, or upload one." });
    if (statSync(file).size > MAX_PREVIEW_SAMPLE_BYTES) {
      throw new TRPCError({ code: "BAD_REQUEST", message: `This instance is larger than ${MAX_PREVIEW_SAMPLE_BYTES / 1024 / 1024} MB; choose a smaller sample of the same kind.` });
    }
    source = openSource(file);
    target = { type: "instance", id: inst.id };
  } else {
    const bytes = Buffer.from(input.sampleBase64!, "base64");
    source = bytes;
    target = { type: "upload", id: createHash("sha256").update(bytes).digest("hex") };
  }
  // Audited before anything is shown (also when the file turns out unreadable).
  await writeAudit(prisma, { projectId: input.projectId, actorId, action: "deid.preview", targetType: target.type, targetId: target.id, after: { kind: active.kind } });
  try {
    const policy = await projectFloorPolicy(prisma, input.projectId, active);
    const setting = active.kind === "script" ? { script: parseCtpScript(active.setting) } : { profile: compileProfile(parseProfileSpec(active.setting)) };
    return await previewSetting(source, setting, policy);
  } catch (e) {
    if (e instanceof DicomParseError) throw new TRPCError({ code: "BAD_REQUEST", message: `The sample cannot be read as DICOM (${e.code}). Choose a DICOM file.` });
    throw e;
  } finally {
    if (!Buffer.isBuffer(source)) source.close?.();
  }
}

/** Recent instances of the project whose received file is still kept (ids, dates, channel, SOP class: no header values). */
export async function previewSamples(prisma: PrismaClient, dataDir: string, projectId: string) {
  const rows = await prisma.receivedInstance.findMany({
    where: { projectId },
    orderBy: [{ receivedAt: "desc" }, { id: "desc" }],
    take: 100,
    select: { id: true, receivedAt: true, status: true, channel: true, sopClassUid: true, stagingPath: true, sizeBytes: true },
  });
  return rows
    .filter((r) => existsSync(path.join(dataDir, r.stagingPath)))
    .slice(0, 20)
    .map(({ stagingPath: _p, ...r }) => r);
}
