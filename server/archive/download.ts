// Downloads from the local archive as a streamed zip: the HTTP routes under
// app/api/projects/[projectId]/download call handleDownload after parsing what is asked.
// Access is decided once, in server/http/access requireDownloadAccess (read, then the download rule).
import type { PrismaClient } from "@/server/db/generated/client";
import { requireDownloadAccess, jsonError } from "@/server/http/access";
import { writeAudit } from "@/server/audit";
import { childLog } from "@/lib/log";
import {
  downloadFileName,
  planZip,
  zipDownload,
  type DownloadInstance,
  type DownloadSelection,
  type OpenBlob,
} from "@/lib/archive/download";
import { openArchiveBlob } from "./blobs";

const log = childLog("download");

/** What one request asks for: a scan, an experiment (GET) or a selection (POST). */
export type DownloadRequest =
  | { kind: "scan"; scanId: string }
  | { kind: "experiment"; experimentId: string }
  | { kind: "selection"; selection: DownloadSelection };

export interface DownloadDeps {
  /** Opens a stored file; default: the archive's blob store. */
  open?: OpenBlob;
}

export interface DownloadCaller {
  prisma: PrismaClient;
  projectId: string;
  userId: string | null;
  token: { tokenId: string; name: string } | null;
}

/**
 * Who may download from this project: a session or a "read" token that may read it
 * (requireProjectAccessOrToken), then the download rule of lib/archive/download. Call it before
 * reading the request body; returns the caller, or the refusal to send.
 */
export async function authorizeDownload(req: Request, projectId: string): Promise<{ ok: true; caller: DownloadCaller } | { ok: false; response: Response }> {
  const access = await requireDownloadAccess(req.headers, projectId);
  if (!access.ok) return access;
  return {
    ok: true,
    caller: {
      prisma: access.prisma,
      projectId: access.project.id,
      userId: access.user?.id ?? null,
      token: access.token ? { tokenId: access.token.tokenId, name: access.token.name } : null,
    },
  };
}

/** The zip of what was asked (404 when something named is not in the project's local archive), audited. */
export async function streamDownload(caller: DownloadCaller, what: DownloadRequest, deps: DownloadDeps = {}): Promise<Response> {
  const { prisma, projectId } = caller;
  const resolved = await resolveInstances(prisma, projectId, what);
  if (!resolved.ok) return jsonError(404, resolved.message);
  const { entries, summary } = planZip(resolved.instances);
  const fileName = downloadFileName(resolved.nameParts);

  await writeAudit(prisma, {
    projectId,
    actorId: caller.userId,
    action: "archive.download",
    targetType: what.kind,
    ...(what.kind === "scan" ? { targetId: what.scanId } : what.kind === "experiment" ? { targetId: what.experimentId } : {}),
    after: {
      ...summary,
      experimentIds: resolved.experimentIds.slice(0, 200),
      scanIds: resolved.scanIds.slice(0, 200),
      ...(resolved.scanIds.length > 200 ? { scanIdsOmitted: resolved.scanIds.length - 200 } : {}),
      via: caller.token ? "token" : "session",
      ...(caller.token ? { tokenId: caller.token.tokenId, tokenName: caller.token.name } : {}),
    },
  });

  const started = Date.now();
  const zip = zipDownload(entries, deps.open ?? openArchiveBlob, {
    onFinish: ({ status, bytes, error }) => {
      const fields = { projectId, kind: what.kind, instances: summary.instances, zipBytes: bytes, ms: Date.now() - started };
      if (status === "failed") log.error({ ...fields, error: error?.name, code: (error as NodeJS.ErrnoException | undefined)?.code }, "download failed part-way");
      else log.info(fields, status === "complete" ? "download complete" : "download cancelled by the client");
    },
  });
  return new Response(zip.stream, {
    status: 200,
    headers: {
      "content-type": "application/zip",
      "content-length": String(zip.size),
      "content-disposition": `attachment; filename="${fileName}"`,
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
      "x-atrium-instances": String(summary.instances),
    },
  });
}

type Resolved =
  | { ok: true; instances: DownloadInstance[]; experimentIds: string[]; scanIds: string[]; nameParts: string[] }
  | { ok: false; message: string };

/** The instances a request names, all inside `projectId`; anything named but not found is a 404 that says what. */
export async function resolveInstances(prisma: PrismaClient, projectId: string, what: DownloadRequest): Promise<Resolved> {
  const scanIds = what.kind === "scan" ? [what.scanId] : what.kind === "selection" ? [...new Set(what.selection.scans)] : [];
  const experimentIds = what.kind === "experiment" ? [what.experimentId] : what.kind === "selection" ? [...new Set(what.selection.experiments)] : [];
  // Whole subjects: every experiment of theirs in the local archive.
  const subjectLabels = what.kind === "selection" ? [...new Set(what.selection.subjects ?? [])] : [];
  if (subjectLabels.length) {
    const subjects = await prisma.archiveSubject.findMany({
      where: { projectId, label: { in: subjectLabels } },
      select: { label: true, experiments: { select: { id: true } } },
    });
    const missing = subjectLabels.filter((l) => !subjects.some((s) => s.label === l && s.experiments.length > 0));
    if (missing.length) {
      return {
        ok: false,
        message: `Project "${projectId}" has no subject ${missing.slice(0, 5).join(", ")}${missing.length > 5 ? ` (and ${missing.length - 5} more)` : ""} with experiments in its local archive. Reload the Browse tab: they may live only on XNAT.`,
      };
    }
    for (const s of subjects) for (const e of s.experiments) if (!experimentIds.includes(e.id)) experimentIds.push(e.id);
  }

  const experiments = experimentIds.length
    ? await prisma.archiveExperiment.findMany({ where: { projectId, id: { in: experimentIds } }, select: { id: true, label: true } })
    : [];
  const scans = scanIds.length
    ? await prisma.archiveScan.findMany({
        where: { id: { in: scanIds }, experiment: { projectId } },
        select: { id: true, seriesNumber: true, modality: true, experimentId: true, experiment: { select: { label: true } } },
      })
    : [];
  const missingExp = experimentIds.filter((id) => !experiments.some((e) => e.id === id));
  const missingScan = scanIds.filter((id) => !scans.some((s) => s.id === id));
  if (missingExp.length || missingScan.length) {
    const parts = [
      missingExp.length ? `${missingExp.length} experiment(s) (${missingExp.slice(0, 5).join(", ")})` : "",
      missingScan.length ? `${missingScan.length} scan(s) (${missingScan.slice(0, 5).join(", ")})` : "",
    ].filter(Boolean);
    return {
      ok: false,
      message: `Project "${projectId}" has no ${parts.join(" and ")} in its local archive. Reload the Browse tab: they may have been removed, or live only on XNAT.`,
    };
  }

  const rows = await prisma.archiveInstance.findMany({
    where: { scan: { experiment: { projectId }, OR: [{ id: { in: scanIds } }, { experimentId: { in: experimentIds } }] } },
    select: {
      sopInstanceUid: true,
      instanceNumber: true,
      blobKey: true,
      sizeBytes: true,
      scan: {
        select: {
          id: true,
          seriesNumber: true,
          modality: true,
          experiment: { select: { id: true, label: true, subject: { select: { label: true } } } },
        },
      },
    },
  });
  const instances: DownloadInstance[] = rows.map((r) => ({
    subjectLabel: r.scan.experiment.subject.label,
    experimentId: r.scan.experiment.id,
    experimentLabel: r.scan.experiment.label,
    scanId: r.scan.id,
    seriesNumber: r.scan.seriesNumber,
    modality: r.scan.modality,
    sopInstanceUid: r.sopInstanceUid,
    instanceNumber: r.instanceNumber,
    blobKey: r.blobKey,
    sizeBytes: Number(r.sizeBytes),
  }));
  const allScanIds = [...new Set(instances.map((i) => i.scanId))];
  const allExperimentIds = [...new Set(instances.map((i) => i.experimentId))];
  let nameParts: string[];
  if (what.kind === "scan") {
    const s = scans[0]!;
    nameParts = [projectId, s.experiment.label, `scan${s.seriesNumber ?? ""}`];
  } else if (what.kind === "experiment") {
    nameParts = [projectId, experiments[0]!.label];
  } else {
    nameParts = [projectId, "selection"];
  }
  return { ok: true, instances, experimentIds: allExperimentIds, scanIds: allScanIds, nameParts };
}
