// Sources and sinks of pipeline runs on a project archived in XNAT, through lib/xnat's client (the
// same client the XNAT archive driver uses): experiments and their scans as the source selector
// sees them, scans' DICOM files and resources staged into a job's work directory, and resources
// written back onto an experiment or a scan — never half-written: a resource whose upload fails is
// deleted again, and one that is replaced is checked file by file before the job counts as done.
// Framework-free: the caller opens the client (credentials never reach this file's messages).
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { XnatError, type ExperimentDetails, type FileRow, type ResourceRow as XnatResourceRow, type XnatClient } from "@/lib/xnat";
import type { ExperimentRow, ScanRow } from "./sources";

/** Raised for what the job's reason should say as it is (a person can act on it). */
export class XnatStageError extends Error {
  override readonly name = "XnatStageError";
}

/** An XNAT failure as one line without anything the server sent (it may echo labels). */
export function xnatReason(err: unknown): string {
  if (err instanceof XnatError) return err.publicMessage;
  return err instanceof Error ? err.message : String(err);
}

const DICOM_LABELS = new Set(["DICOM", "secondary"]);
const isDicomResource = (r: { label: string; format?: string | undefined }) => DICOM_LABELS.has(r.label) || (r.format ?? "").toUpperCase() === "DICOM";

/**
 * An XNAT experiment as the source selector sees it. `ids` are the ids its samples are keyed by
 * (Atrium's own experiment and subject ids when the governor made rows for it, else XNAT's
 * accession ids); scans are keyed by their XNAT scan id.
 */
export function experimentRowFromXnat(details: ExperimentDetails, experimentResources: XnatResourceRow[], ids: { id: string; subjectId: string }): ExperimentRow {
  const scans: ScanRow[] = details.scans.map((s) => {
    const dicom = s.resources.filter(isDicomResource);
    // A DICOM resource without a file count (older XNATs) counts as holding files.
    const instanceCount = dicom.reduce((n, r) => n + (r.fileCount ?? 1), 0);
    return { id: s.id, seriesNumber: /^\d+$/.test(s.id) ? Number(s.id) : null, modality: s.modality ?? null, seriesDescription: s.seriesDescription ?? s.type ?? null, instanceCount };
  });
  const resources = [
    ...experimentResources.map((r) => ({ id: r.label, name: r.label, scanId: null })),
    ...details.scans.flatMap((s) => s.resources.filter((r) => !isDicomResource(r)).map((r) => ({ id: `${s.id}/${r.label}`, name: r.label, scanId: s.id }))),
  ];
  return { id: ids.id, subjectId: ids.subjectId, label: details.label, scans, resources, xnat: details.id };
}

/** The path of a file inside its resource, from the listing's URI (…/files/<path>), else its name. */
function remotePathOf(f: FileRow): string {
  const i = f.URI.indexOf("/files/");
  return i >= 0 ? decodeURIComponent(f.URI.slice(i + "/files/".length)) : f.Name;
}

const safeName = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, "_").replace(/^[._]+/, "") || "file";

/** Copies a scan's DICOM files from XNAT into `dest` (000001.dcm, … in the order of their names). */
export async function stageXnatScan(xnat: XnatClient, project: string, ref: { experiment: string; scan: string }, dest: string): Promise<string> {
  await mkdir(dest, { recursive: true });
  let files: FileRow[];
  try {
    files = await xnat.listScanFiles({ project, experiment: ref.experiment, scan: ref.scan });
  } catch (e) {
    if (e instanceof XnatError && e.kind === "not-found") throw new XnatStageError(`Input scan ${ref.scan} of XNAT experiment ${ref.experiment} is no longer on the project's XNAT; re-run the pipeline on the experiment as it is now.`);
    throw new XnatStageError(`Input scan ${ref.scan} of XNAT experiment ${ref.experiment} could not be read from XNAT: ${xnatReason(e)}`);
  }
  const dicom = files.filter((f) => DICOM_LABELS.has(f.collection) || (f.file_format ?? "").toUpperCase() === "DICOM");
  const picked = (dicom.length ? dicom : files).map((f) => ({ resource: f.collection, path: remotePathOf(f) })).sort((a, b) => a.path.localeCompare(b.path));
  if (!picked.length) throw new XnatStageError(`Input scan ${ref.scan} of XNAT experiment ${ref.experiment} has no files on XNAT; re-run the pipeline on the experiment as it is now.`);
  for (const [i, f] of picked.entries()) {
    const bytes = await xnat.downloadFile({ project, experiment: ref.experiment, scan: ref.scan, resource: f.resource }, f.path).catch((e: unknown) => {
      throw new XnatStageError(`A file of input scan ${ref.scan} (XNAT experiment ${ref.experiment}) could not be downloaded: ${xnatReason(e)}`);
    });
    await writeFile(path.join(dest, `${String(i + 1).padStart(6, "0")}.dcm`), bytes);
  }
  return dest;
}

/** Copies a resource (of the experiment, or of one scan) from XNAT into `dest`; one file of a non-directory input is passed as that file. */
export async function stageXnatResource(xnat: XnatClient, project: string, ref: { experiment: string; scan?: string; resource: string }, type: string, dest: string): Promise<string> {
  await mkdir(dest, { recursive: true });
  const rref = { project, experiment: ref.experiment, ...(ref.scan ? { scan: ref.scan } : {}), resource: ref.resource };
  const where = `resource ${ref.resource} of ${ref.scan ? `scan ${ref.scan} of ` : ""}XNAT experiment ${ref.experiment}`;
  let files: FileRow[];
  try {
    files = await xnat.listFiles(rref);
  } catch (e) {
    if (e instanceof XnatError && e.kind === "not-found") throw new XnatStageError(`Input ${where} is no longer on the project's XNAT; run the pipeline that writes it again.`);
    throw new XnatStageError(`Input ${where} could not be read from XNAT: ${xnatReason(e)}`);
  }
  const names: string[] = [];
  for (const f of files) {
    const remote = remotePathOf(f);
    const name = safeName(remote.split("/").pop() ?? remote);
    const bytes = await xnat.downloadFile(rref, remote).catch((e: unknown) => {
      throw new XnatStageError(`A file of input ${where} could not be downloaded: ${xnatReason(e)}`);
    });
    await writeFile(path.join(dest, name), bytes);
    names.push(name);
  }
  return type !== "directory" && names.length === 1 ? path.join(dest, names[0]!) : dest;
}

export interface XnatResourceWrite {
  name: string;
  /** Absolute paths in the job's directory, and the names they get in the resource. */
  files: { path: string; name: string; size: number }[];
}

export interface XnatSinkTarget {
  project: string;
  /** Label or accession id of the experiment. */
  experiment: string;
  scan?: string | null;
}

/**
 * Writes each resource onto the experiment (or the scan): a resource of that name is replaced
 * (deleted, then created with the new files), every file uploaded, and the listing checked (names
 * and sizes). When anything fails, the resources this call created are deleted again before the
 * error is thrown, so XNAT never keeps a partial result; the message says so, or names what could
 * not be removed (e.g. an account that may not delete: XNAT lets Owners delete).
 * Returns each file's URI on XNAT.
 */
export async function writeXnatResources(xnat: XnatClient, target: XnatSinkTarget, resources: XnatResourceWrite[]): Promise<Record<string, Record<string, string>>> {
  const refOf = (name: string) => ({ project: target.project, experiment: target.experiment, ...(target.scan ? { scan: target.scan } : {}), resource: name });
  const on = `${target.scan ? `scan ${target.scan} of ` : ""}experiment ${target.experiment}`;
  const touched: string[] = [];
  const replaced: string[] = [];
  const uris: Record<string, Record<string, string>> = {};
  try {
    for (const r of resources) {
      const ref = refOf(r.name);
      const existing = (await xnat.listResources({ project: target.project, experiment: target.experiment, ...(target.scan ? { scan: target.scan } : {}) })).some((x) => x.label === r.name);
      if (existing) {
        try {
          await xnat.deleteResource(ref);
        } catch (e) {
          if (e instanceof XnatError && e.kind === "forbidden") throw new XnatStageError(`XNAT refused to replace resource ${r.name} on ${on} (the account may not delete there: XNAT lets only project Owners delete; make Atrium's XNAT account an Owner of the project, or remove the old resource by hand).`);
          throw e;
        }
        replaced.push(r.name);
      }
      touched.push(r.name);
      await xnat.putResource(ref, { format: r.files.length === 1 ? formatOf(r.files[0]!.name) : undefined, content: "atrium-pipeline" });
      for (const f of r.files) await xnat.uploadFile(ref, f.name, await readFile(f.path), { overwrite: true });
      const listed = await xnat.listFiles(ref);
      const byName = new Map(listed.map((f) => [remotePathOf(f), f]));
      const missing = r.files.filter((f) => !byName.has(f.name));
      if (missing.length) throw new XnatStageError(`XNAT does not list ${missing.map((f) => f.name).join(", ")} in resource ${r.name} on ${on} after the upload.`);
      // Sizes are checked where XNAT reports them (it stores non-DICOM files as they came).
      const wrong = r.files.filter((f) => byName.get(f.name)!.Size !== "" && Number(byName.get(f.name)!.Size) !== f.size);
      if (wrong.length) throw new XnatStageError(`XNAT holds ${wrong.map((f) => f.name).join(", ")} of resource ${r.name} on ${on} with another size than was uploaded.`);
      uris[r.name] = Object.fromEntries(r.files.map((f) => [f.name, byName.get(f.name)!.URI]));
    }
    return uris;
  } catch (e) {
    const left: string[] = [];
    for (const name of touched) {
      try {
        await xnat.deleteResource(refOf(name));
      } catch (d) {
        if (!(d instanceof XnatError && d.kind === "not-found")) left.push(name);
      }
    }
    const what = e instanceof XnatStageError ? e.message : `XNAT: ${xnatReason(e)}`;
    const cleanup = touched.length
      ? left.length
        ? ` The partial resource(s) ${left.join(", ")} on ${on} could not be removed from XNAT (the account may not delete there): remove them by hand, or re-run the job, which replaces them.`
        : ` Nothing was left on XNAT (the partial resource${touched.length > 1 ? "s were" : " was"} deleted).`
      : "";
    const lost = replaced.length ? ` The earlier ${replaced.join(", ")} on ${on} had been removed to be replaced: re-run the job to write it again.` : "";
    throw new XnatStageError(`${what}${cleanup}${lost}`);
  }
}

function formatOf(name: string): string | undefined {
  const n = name.toLowerCase();
  if (n.endsWith(".nii") || n.endsWith(".nii.gz")) return "NIFTI";
  if (n.endsWith(".json")) return "JSON";
  if (n.endsWith(".csv")) return "CSV";
  return undefined;
}
