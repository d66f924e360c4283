// Pipeline runs on a project whose archive target is an XNAT: its experiments are read from that
// XNAT (through lib/xnat's client, with the credentials of the project's archive target), jobs
// stage their scans and resources from it and write their resource sinks back to it
// (lib/pipelines/xnat.ts); values stay named results in Atrium's database, as for the local archive.
//
// Sample ids: an experiment the governor already follows (an ArchiveExperiment row with the XNAT
// session's label) keeps Atrium's experiment and subject ids, so its workflow reads the values;
// any other experiment is keyed by its XNAT accession ids (XNAT_E…, XNAT_S…). Scans are XNAT scan ids.
import type { PrismaClient } from "@/server/db/generated/client";
import { XnatClient, XnatError, type XnatClientOptions } from "@/lib/xnat";
import { experimentRowFromXnat, xnatReason, XnatStageError } from "@/lib/pipelines/xnat";
import type { ExperimentRow } from "@/lib/pipelines/sources";
import { xnatTargetOf } from "@/server/archive/drivers";

export interface ProjectXnat {
  url: string;
  /** The project id on that XNAT. */
  project: string;
  connect(): Promise<XnatClient>;
}

/** Client options for the pipelines' XNAT calls (tests shorten the retries). */
let clientOptions: XnatClientOptions = {};
export function setPipelineXnatOptions(o: XnatClientOptions) {
  clientOptions = o;
}

/** The project's XNAT when its archive target is one, else null (the local archive). */
export async function projectXnat(prisma: PrismaClient, projectId: string): Promise<ProjectXnat | null> {
  const target = await prisma.projectArchiveTarget.findUnique({ where: { projectId } });
  if (target?.kind !== "xnat") return null;
  const t = xnatTargetOf(target);
  const base = t.url.replace(/\/+$/, "");
  return {
    url: base,
    project: t.project,
    async connect() {
      try {
        return await XnatClient.connect({ url: base, ...t.credentials, heartbeat: false, ...clientOptions });
      } catch (err) {
        if (err instanceof XnatError && err.kind === "auth") throw new XnatStageError(`XNAT at ${base} refused the login of the project's archive account: enter a valid user and password (or a new alias token) in the project's Archive settings.`);
        if (err instanceof XnatError && (err.kind === "network" || err.kind === "timeout")) throw new XnatStageError(`XNAT at ${base} could not be reached (${err.kind}): check the URL in the project's Archive settings and that the XNAT is up.`);
        throw new XnatStageError(`XNAT at ${base}: ${xnatReason(err)}`);
      }
    },
  };
}

/**
 * The experiments to run on, read from XNAT: each requested id is an Atrium experiment id or
 * label, or an XNAT experiment label or accession id. Those XNAT does not have are returned in `missing`.
 */
export async function xnatExperimentRows(prisma: PrismaClient, projectId: string, x: ProjectXnat, xnat: XnatClient, requested: string[]): Promise<{ rows: ExperimentRow[]; missing: string[] }> {
  const rows: ExperimentRow[] = [];
  const missing: string[] = [];
  const local = await prisma.archiveExperiment.findMany({ where: { projectId, OR: [{ id: { in: requested } }, { label: { in: requested } }] }, select: { id: true, label: true, subjectId: true } });
  for (const want of requested) {
    const mine = local.find((e) => e.id === want) ?? local.find((e) => e.label === want);
    let details;
    try {
      details = await xnat.getExperiment({ project: x.project, experiment: mine?.label ?? want });
    } catch (e) {
      throw new XnatStageError(`The experiments could not be read from XNAT project ${x.project}: ${xnatReason(e)}`);
    }
    if (!details) {
      missing.push(want);
      continue;
    }
    const known = mine ?? (await prisma.archiveExperiment.findFirst({ where: { projectId, label: details.label }, select: { id: true, label: true, subjectId: true } }));
    const resources = await xnat.listResources({ project: x.project, experiment: details.id });
    rows.push(experimentRowFromXnat(details, resources, known ? { id: known.id, subjectId: known.subjectId } : { id: details.id, subjectId: details.subjectId }));
  }
  return { rows, missing };
}

/** Every experiment of the project on its XNAT (accession ids), oldest first. */
export async function allXnatExperiments(x: ProjectXnat, xnat: XnatClient): Promise<string[]> {
  const rows = await xnat.listExperiments(x.project);
  return rows.sort((a, b) => (a.insert_date ?? "").localeCompare(b.insert_date ?? "") || a.ID.localeCompare(b.ID)).map((r) => r.ID);
}

/** The XNAT experiment a sample's experiment id stands for: Atrium's row by its label, else the accession id itself. */
export async function xnatExperimentOf(prisma: PrismaClient, projectId: string, experimentId: string): Promise<string> {
  const e = await prisma.archiveExperiment.findFirst({ where: { id: experimentId, projectId }, select: { label: true } });
  return e?.label ?? experimentId;
}
