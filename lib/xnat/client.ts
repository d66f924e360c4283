// XnatClient: the typed XNAT REST client (what xnatpy is in Python). See USAGE.md beside this file.
import { XnatError } from "./errors";
import { XnatTransport, backoffDelay, type Query, type TransportOptions, type XnatCredentials, type XnatResponse } from "./transport";
import type {
  Accessibility,
  AliasToken,
  BuildInfo,
  Created,
  ExperimentDetails,
  ExperimentRef,
  ExperimentRow,
  FileRow,
  OverwriteMode,
  PrearchiveRef,
  PrearchiveRow,
  ProjectRoleOnXnat,
  ProjectRow,
  ResourceRef,
  ResourceRow,
  ResultSet,
  ScanRef,
  ScanRow,
  SubjectRow,
  XftItem,
} from "./types";
import { parseUriList, parseXnatUri, prearchivePath, type XnatUri } from "./uri";
import { dicomZipStream, manifestOf, type DicomZipEntry, type DicomZipManifest } from "./zip";

export interface XnatClientOptions extends TransportOptions {
  /** Per-attempt time limit of uploads (import, file PUT). Default 30 min. */
  uploadTimeoutMs?: number;
  /** The largest file downloadFile() reads into memory. Default 1 GiB. */
  maxDownloadBytes?: number;
}

export type XnatConnectOptions = XnatClientOptions & { url: string } & XnatCredentials;

export interface ImportDicomZipInput {
  project: string;
  subject: string;
  /** The experiment (session) label. */
  session: string;
  files: readonly DicomZipEntry[];
  /** none (default): refuse if the experiment exists; append: merge, keep existing files; delete: merge, replace files. */
  overwrite?: OverwriteMode;
  /** archive (default): straight into the archive (dest=/archive/projects/P); prearchive: stop there. */
  destination?: "archive" | "prearchive";
  quarantine?: boolean;
  triggerPipelines?: boolean;
  /** Recorded by XNAT as the session's SOURCE. Default "atrium". */
  source?: string;
  /** 0 = store (default, least CPU); 1–9 = deflate (about half the bytes on the wire). */
  compressionLevel?: number;
  onProgress?: (zipBytes: number) => void;
  timeoutMs?: number;
}

export interface ImportResult {
  /** Every URI XNAT returned, parsed. */
  uris: XnatUri[];
  /** The archived experiment (destination archive). */
  experiment?: { project: string; subject: string; experiment: string; uri: string };
  /** The prearchive sessions (destination prearchive). */
  prearchive?: PrearchiveRef[];
  manifest: DicomZipManifest;
  /** Upload attempts made (1 = no retry). */
  attempts: number;
  /** The overwrite mode of the attempt that succeeded (a retry after a partial upload uses append). */
  overwriteUsed: OverwriteMode;
}

export interface VerifyExpectation {
  files: number;
  /** Advisory only: XNAT rewrites every DICOM file it imports (dcm4che2), so sizes change. */
  bytes: number;
  /**
   * Per series (scan UID = SeriesInstanceUID), when known. With `sopInstanceUids` (files sent
   * named `<SOP Instance UID>.dcm`, which XNAT keeps), the set of instances is compared.
   */
  scans?: Array<{
    uid: string;
    files: number;
    bytes: number;
    sopInstanceUids?: string[];
    /** The series was sent in a compressed transfer syntax (a site's XNAT may store it decompressed). */
    compressed?: boolean;
  }>;
  /** exact (default): counts must match; atLeast: XNAT may hold more (merged into an existing experiment). */
  mode?: "exact" | "atLeast";
  /** Resource holding the DICOM files. Default DICOM. */
  resource?: string;
}

export interface VerifyReport {
  ok: boolean;
  experimentId: string;
  files: number;
  bytes: number;
  scans: Array<{ id: string; uid: string | undefined; files: number; bytes: number; names: string[] }>;
  problems: string[];
  /** What is worth knowing but not wrong (e.g. XNAT rewrote or decompressed files: sizes differ). */
  notes: string[];
}

const LABEL = /^[A-Za-z0-9_-]{1,64}$/;

const n = (v: number) => v.toLocaleString("en-US");

/**
 * What the sizes on XNAT say, never a verdict: XNAT re-encodes every DICOM file it imports
 * (dcm4che2: headers rewritten, sizes change a little) and some sites decompress compressed
 * images (a series sent compressed grows well beyond its size). Per series when the expectation
 * says which series were compressed; from the totals otherwise.
 */
export function sizeNotes(expected: VerifyExpectation, scans: VerifyReport["scans"], bytes: number): string[] {
  if (bytes === expected.bytes) return [];
  const wanted = expected.scans ?? [];
  const grew = (have: { files: number; bytes: number }, want: { files: number; bytes: number }) =>
    have.files > 0 && want.files > 0 && have.bytes / have.files > (want.bytes / want.files) * 1.2;
  if (!wanted.some((w) => w.compressed !== undefined)) {
    return [
      grew({ files: 1, bytes }, { files: 1, bytes: expected.bytes })
        ? `XNAT holds ${n(bytes)} bytes for ${n(expected.bytes)} sent: this XNAT decompresses compressed images on import (not an error)`
        : `XNAT holds ${n(bytes)} bytes for ${n(expected.bytes)} sent: XNAT re-encodes DICOM headers on import (not an error)`,
    ];
  }
  const decompressed = { series: 0, held: 0, sent: 0 };
  const rest = { held: 0, sent: 0 };
  for (const want of wanted) {
    const have = scans.find((s) => s.uid === want.uid);
    if (!have) continue;
    if (want.compressed && grew(have, want)) {
      decompressed.series++;
      decompressed.held += have.bytes;
      decompressed.sent += want.bytes;
    } else {
      rest.held += have.bytes;
      rest.sent += want.bytes;
    }
  }
  const notes: string[] = [];
  if (decompressed.series) {
    const compressed = wanted.filter((w) => w.compressed).length;
    notes.push(
      `this XNAT decompresses images on import: ${decompressed.series} of ${compressed} series sent compressed ${decompressed.series === 1 ? "is" : "are"} stored decompressed (${n(decompressed.held)} bytes for ${n(decompressed.sent)} sent; not an error, but they take more space there)`,
    );
  }
  if (rest.held !== rest.sent) notes.push(`XNAT re-encodes DICOM headers on import: ${n(rest.held)} bytes stored for ${n(rest.sent)} sent (not an error)`);
  return notes;
}

function enc(s: string): string {
  return encodeURIComponent(s);
}

function rows<T>(res: XnatResponse): T[] {
  const body = res.json<ResultSet<T>>();
  return body?.ResultSet?.Result ?? [];
}

function str(v: unknown): string | undefined {
  return v === undefined || v === null || v === "" ? undefined : String(v);
}

function num(v: unknown): number | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

/** XNAT's answer to a file upload onto an existing name without overwrite: 200 with {"duplicates": [...]} . */
function isDuplicate(res: XnatResponse, name: string): boolean {
  const t = res.text().trim();
  if (!t.startsWith("{")) return false;
  try {
    const d = (JSON.parse(t) as { duplicates?: unknown }).duplicates;
    return Array.isArray(d) && d.some((x) => String(x) === name || String(x).endsWith(`/${name}`) || name.endsWith(`/${String(x)}`));
  } catch {
    return false;
  }
}

export function experimentPath(ref: ExperimentRef): string {
  const p = `/data/projects/${enc(ref.project)}`;
  return ref.subject ? `${p}/subjects/${enc(ref.subject)}/experiments/${enc(ref.experiment)}` : `${p}/experiments/${enc(ref.experiment)}`;
}

export function resourcePath(ref: ResourceRef): string {
  const base = experimentPath(ref);
  return ref.scan ? `${base}/scans/${enc(ref.scan)}/resources/${enc(ref.resource)}` : `${base}/resources/${enc(ref.resource)}`;
}

function prearchiveApiPath(ref: PrearchiveRef): string {
  return `/data${prearchivePath(ref)}`;
}

export class XnatClient {
  readonly transport: XnatTransport;
  private readonly uploadTimeoutMs: number;
  private readonly maxDownloadBytes: number;

  constructor(url: string, credentials: XnatCredentials, options: XnatClientOptions = {}) {
    this.transport = new XnatTransport(url, credentials, options);
    this.uploadTimeoutMs = options.uploadTimeoutMs ?? 30 * 60_000;
    this.maxDownloadBytes = options.maxDownloadBytes ?? 1024 * 1024 * 1024;
  }

  /** Creates a client and logs in (POST /data/JSESSION). Throws XnatError kind "auth" on bad credentials. */
  static async connect(options: XnatConnectOptions): Promise<XnatClient> {
    const creds: XnatCredentials =
      "alias" in options ? { alias: options.alias, secret: options.secret } : { username: options.username, password: options.password };
    const client = new XnatClient(options.url, creds, options);
    await client.transport.login();
    return client;
  }

  /** Logs out (DELETE /data/JSESSION) and stops the heartbeat. */
  close(): Promise<void> {
    return this.transport.close();
  }

  private get(path: string, query: Query = {}, accept: number[] = [200]) {
    return this.transport.request({ method: "GET", path, query: { format: "json", ...query }, accept });
  }

  private async put(path: string, query: Query = {}): Promise<Created> {
    const res = await this.transport.request({ method: "PUT", path, query, accept: [200, 201] });
    return { id: res.text().trim(), created: res.status === 201 };
  }

  private async del(path: string, query: Query = {}): Promise<void> {
    await this.transport.request({ method: "DELETE", path, query, accept: [200, 204] });
  }

  // ── Site ────────────────────────────────────────────────────────────────────────────────

  /** XNAT version (GET /xapi/siteConfig/buildInfo; /data/version on 1.6). */
  async buildInfo(): Promise<BuildInfo> {
    const res = await this.transport.request({ method: "GET", path: "/xapi/siteConfig/buildInfo", accept: [200, 404] });
    if (res.status === 200) return res.json<BuildInfo>();
    const old = await this.transport.request({ method: "GET", path: "/data/version", accept: [200] });
    return { version: old.text().trim() };
  }

  /** The login XNAT sees for this session (GET /data/auth). */
  async whoami(): Promise<string> {
    const res = await this.transport.request({ method: "GET", path: "/data/auth", accept: [200] });
    const m = /User '([^']+)' is logged in/.exec(res.text());
    if (!m) {
      throw new XnatError({ kind: "auth", method: "GET", path: "/data/auth", status: res.status, hint: "XNAT did not confirm the login; check the URL points at XNAT." });
    }
    return m[1]!;
  }

  /** A new alias token for this user (GET /data/services/tokens/issue). */
  async issueToken(): Promise<AliasToken> {
    const res = await this.transport.request({ method: "GET", path: "/data/services/tokens/issue", accept: [200] });
    return res.json<AliasToken>();
  }

  // ── Projects ────────────────────────────────────────────────────────────────────────────

  async listProjects(filter?: "accessible" | "owner" | "member" | "collaborator"): Promise<ProjectRow[]> {
    return rows<ProjectRow>(await this.get("/data/projects", filter ? { [filter]: "true" } : {}));
  }

  /** One project's XFT item, or null if it does not exist (or is invisible to this account). */
  async getProject(id: string): Promise<XftItem | null> {
    const res = await this.get(`/data/projects/${enc(id)}`, {}, [200, 404]);
    return res.status === 404 ? null : (res.json<{ items: XftItem[] }>().items[0] ?? null);
  }

  /** PUT /data/projects/{id}: 201 when created, 200 when it existed (fields updated). */
  putProject(id: string, fields: { name?: string; secondaryId?: string; description?: string } = {}): Promise<Created> {
    return this.put(`/data/projects/${enc(id)}`, {
      xsiType: "xnat:projectData",
      req_format: "qs",
      "xnat:projectData/name": fields.name,
      "xnat:projectData/secondary_ID": fields.secondaryId,
      "xnat:projectData/description": fields.description,
    });
  }

  async getAccessibility(project: string): Promise<Accessibility> {
    const res = await this.transport.request({ method: "GET", path: `/data/projects/${enc(project)}/accessibility`, accept: [200] });
    return res.text().trim().toLowerCase() as Accessibility;
  }

  async setAccessibility(project: string, value: Accessibility): Promise<void> {
    await this.transport.request({ method: "PUT", path: `/data/projects/${enc(project)}/accessibility/${value}`, accept: [200, 201] });
  }

  /** 0 = prearchive, 4 = auto-archive, 5 = auto-archive with overwrite. */
  async getPrearchiveCode(project: string): Promise<number> {
    const res = await this.transport.request({ method: "GET", path: `/data/projects/${enc(project)}/prearchive_code`, accept: [200] });
    return Number(res.text().trim());
  }

  async setPrearchiveCode(project: string, code: 0 | 4 | 5): Promise<void> {
    await this.transport.request({ method: "PUT", path: `/data/projects/${enc(project)}/prearchive_code/${code}`, accept: [200, 201] });
  }

  /** This account's role in a project (from the owner/member/collaborator project listings), or null. */
  async myRole(project: string): Promise<ProjectRoleOnXnat | null> {
    for (const role of ["owner", "member", "collaborator"] as const) {
      const list = await this.listProjects(role);
      if (list.some((p) => p.ID === project)) return role;
    }
    return null;
  }

  /** Adds a user to a project group (Owners, Members, Collaborators). Requires owner rights. */
  async addProjectUser(project: string, group: "Owners" | "Members" | "Collaborators", login: string): Promise<void> {
    await this.transport.request({ method: "PUT", path: `/data/projects/${enc(project)}/users/${group}/${enc(login)}`, accept: [200, 201] });
  }

  // ── Subjects ────────────────────────────────────────────────────────────────────────────

  /** Subjects of a project; `label` filters (XNAT accepts `*` wildcards). */
  async listSubjects(project: string, opts: { label?: string } = {}): Promise<SubjectRow[]> {
    return rows<SubjectRow>(await this.get(`/data/projects/${enc(project)}/subjects`, { label: opts.label }));
  }

  async getSubject(project: string, subject: string): Promise<XftItem | null> {
    const res = await this.get(`/data/projects/${enc(project)}/subjects/${enc(subject)}`, {}, [200, 404]);
    return res.status === 404 ? null : (res.json<{ items: XftItem[] }>().items[0] ?? null);
  }

  /** PUT a subject: 201 + new accession id, or 200 + existing id. Fields: e.g. { group: "control" }. */
  putSubject(project: string, subject: string, fields: Record<string, string> = {}): Promise<Created> {
    const q: Query = { xsiType: "xnat:subjectData", req_format: "qs" };
    for (const [k, v] of Object.entries(fields)) q[k.includes("/") ? k : `xnat:subjectData/${k}`] = v;
    return this.put(`/data/projects/${enc(project)}/subjects/${enc(subject)}`, q);
  }

  deleteSubject(project: string, subject: string, opts: { removeFiles?: boolean } = {}): Promise<void> {
    return this.del(`/data/projects/${enc(project)}/subjects/${enc(subject)}`, { removeFiles: opts.removeFiles ? "true" : undefined });
  }

  /** Finds subjects by label across the projects this account can see (optionally in one project). */
  async findSubjects(label: string, opts: { project?: string } = {}): Promise<SubjectRow[]> {
    return rows<SubjectRow>(await this.get("/data/subjects", { label, project: opts.project }));
  }

  // ── Experiments ─────────────────────────────────────────────────────────────────────────

  /** Experiments of a project, or of one subject; `label` and `xsiType` filter. */
  async listExperiments(project: string, opts: { subject?: string; label?: string; xsiType?: string } = {}): Promise<ExperimentRow[]> {
    const path = opts.subject
      ? `/data/projects/${enc(project)}/subjects/${enc(opts.subject)}/experiments`
      : `/data/projects/${enc(project)}/experiments`;
    return rows<ExperimentRow>(await this.get(path, { label: opts.label, xsiType: opts.xsiType }));
  }

  /** Finds experiments by label across the projects this account can see (optionally in one project). */
  async findExperiments(label: string, opts: { project?: string } = {}): Promise<ExperimentRow[]> {
    return rows<ExperimentRow>(await this.get("/data/experiments", { label, project: opts.project }));
  }

  /** The experiment with its scans and resources, or null when it does not exist. */
  async getExperiment(ref: ExperimentRef): Promise<ExperimentDetails | null> {
    const res = await this.get(experimentPath(ref), {}, [200, 404]);
    if (res.status === 404) return null;
    const item = res.json<{ items: XftItem[] }>().items[0];
    if (!item) return null;
    const f = item.data_fields;
    const scanItems = item.children.find((c) => c.field === "scans/scan")?.items ?? [];
    return {
      id: String(f.ID),
      label: String(f.label),
      project: String(f.project),
      subjectId: String(f.subject_ID ?? ""),
      xsiType: item.meta["xsi:type"],
      date: str(f.date),
      uid: str(f.UID),
      fields: f,
      scans: scanItems.map((s) => ({
        id: String(s.data_fields.ID),
        xsiType: s.meta["xsi:type"],
        type: str(s.data_fields.type),
        seriesDescription: str(s.data_fields.series_description),
        uid: str(s.data_fields.UID),
        modality: str(s.data_fields.modality),
        resources: (s.children.find((c) => c.field === "file")?.items ?? []).map((r) => ({
          label: String(r.data_fields.label),
          format: str(r.data_fields.format),
          content: str(r.data_fields.content),
          fileCount: num(r.data_fields.file_count),
          fileSize: num(r.data_fields.file_size),
        })),
      })),
    };
  }

  /**
   * PUT an experiment (an unknown subject label is created on the fly): 201 + new accession id,
   * or 200 + existing id. `xsiType` is required to create (e.g. xnat:mrSessionData).
   */
  putExperiment(
    ref: ExperimentRef & { subject: string },
    opts: { xsiType: string; date?: string; fields?: Record<string, string> },
  ): Promise<Created> {
    const t = opts.xsiType;
    const q: Query = { xsiType: t, req_format: "qs", [`${t}/date`]: opts.date };
    for (const [k, v] of Object.entries(opts.fields ?? {})) q[k.includes("/") ? k : `${t}/${k}`] = v;
    return this.put(experimentPath(ref), q);
  }

  deleteExperiment(ref: ExperimentRef, opts: { removeFiles?: boolean } = {}): Promise<void> {
    return this.del(experimentPath(ref), { removeFiles: opts.removeFiles ? "true" : undefined });
  }

  // ── Scans, resources, files ─────────────────────────────────────────────────────────────

  async listScans(ref: ExperimentRef): Promise<ScanRow[]> {
    return rows<ScanRow>(await this.get(`${experimentPath(ref)}/scans`));
  }

  putScan(ref: ScanRef, opts: { xsiType: string; type?: string; seriesDescription?: string; fields?: Record<string, string> }): Promise<Created> {
    const t = opts.xsiType;
    const q: Query = { xsiType: t, req_format: "qs", [`${t}/type`]: opts.type, [`${t}/series_description`]: opts.seriesDescription };
    for (const [k, v] of Object.entries(opts.fields ?? {})) q[k.includes("/") ? k : `${t}/${k}`] = v;
    return this.put(`${experimentPath(ref)}/scans/${enc(ref.scan)}`, q);
  }

  deleteScan(ref: ScanRef, opts: { removeFiles?: boolean } = {}): Promise<void> {
    return this.del(`${experimentPath(ref)}/scans/${enc(ref.scan)}`, { removeFiles: opts.removeFiles ? "true" : undefined });
  }

  /** Resources of an experiment (no scan) or of one scan. */
  async listResources(ref: ExperimentRef & { scan?: string }): Promise<ResourceRow[]> {
    const base = experimentPath(ref);
    return rows<ResourceRow>(await this.get(ref.scan ? `${base}/scans/${enc(ref.scan)}/resources` : `${base}/resources`));
  }

  putResource(ref: ResourceRef, opts: { format?: string; content?: string } = {}): Promise<Created> {
    return this.put(resourcePath(ref), { format: opts.format, content: opts.content });
  }

  /** Deletes a resource with its files (removeFiles=true). */
  deleteResource(ref: ResourceRef): Promise<void> {
    return this.del(resourcePath(ref), { removeFiles: "true" });
  }

  async listFiles(ref: ResourceRef): Promise<FileRow[]> {
    return rows<FileRow>(await this.get(`${resourcePath(ref)}/files`));
  }

  /** All files of a scan, over its resources (GET …/scans/{id}/files). */
  async listScanFiles(ref: ScanRef): Promise<FileRow[]> {
    return rows<FileRow>(await this.get(`${experimentPath(ref)}/scans/${enc(ref.scan)}/files`));
  }

  /**
   * PUT one file (raw body). XNAT (FileList) answers 200 whether it created or replaced the file;
   * without `overwrite` an existing name is kept and named in a `{"duplicates": [...]}` body with
   * status 200. That answer is an XnatError kind "conflict", except after a retried attempt when
   * the stored size equals ours (our first attempt landed).
   */
  async uploadFile(
    ref: ResourceRef,
    remotePath: string,
    data: Uint8Array,
    opts: { overwrite?: boolean; contentType?: string; content?: string; format?: string; tags?: string } = {},
  ): Promise<Created> {
    const path = `${resourcePath(ref)}/files/${remotePath.split("/").map(enc).join("/")}`;
    const policy = this.transport.retryPolicy;
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await this.transport.request({
          method: "PUT",
          path,
          query: { inbody: "true", overwrite: opts.overwrite ? "true" : undefined, content: opts.content, format: opts.format, tags: opts.tags },
          body: () => new Blob([new Uint8Array(data)]),
          contentType: opts.contentType ?? "application/octet-stream",
          accept: [200, 201],
          retry: false,
          timeoutMs: this.uploadTimeoutMs,
        });
        if (isDuplicate(res, remotePath)) {
          if (attempt === 0) {
            throw new XnatError({ kind: "conflict", method: "PUT", path, status: res.status, attempts: 1, hint: "A file with this name exists and XNAT kept it; pass overwrite: true to replace it." });
          }
          const existing = (await this.listFiles(ref)).find((f) => f.Name === remotePath || f.URI.endsWith(`/files/${remotePath}`));
          if (existing && Number(existing.Size) === data.byteLength) return { id: remotePath, created: true };
          throw new XnatError({ kind: "conflict", method: "PUT", path, status: res.status, attempts: attempt + 1, hint: "A different file with this name exists and XNAT kept it; pass overwrite: true to replace it." });
        }
        return { id: remotePath, created: true };
      } catch (err) {
        if (!(err instanceof XnatError) || !err.retryable || attempt >= policy.retries) throw err;
        await policy.sleep(backoffDelay(attempt, policy));
      }
    }
  }

  /** The bytes of one file. */
  async downloadFile(ref: ResourceRef, remotePath: string): Promise<Buffer> {
    const path = `${resourcePath(ref)}/files/${remotePath.split("/").map(enc).join("/")}`;
    const res = await this.transport.request({ method: "GET", path, accept: [200], timeoutMs: this.uploadTimeoutMs, maxBytes: this.maxDownloadBytes });
    return res.body;
  }

  deleteFile(ref: ResourceRef, remotePath: string): Promise<void> {
    return this.del(`${resourcePath(ref)}/files/${remotePath.split("/").map(enc).join("/")}`);
  }

  // ── Import service ──────────────────────────────────────────────────────────────────────

  /**
   * Sends DICOM files as one zip to POST /data/services/import (import-handler=DICOM-zip) with
   * project, subject and session always given and prevent_anon=true (Atrium de-identifies
   * before). Retries 5xx, timeouts and dropped connections with backoff, idempotently:
   * - archive: with overwrite none, the experiment must not exist before (checked first); every
   *   retry then uses append, so a first attempt that landed (fully or partly) is completed,
   *   never duplicated: XNAT names files by their SOP instance, and append keeps existing ones.
   * - prearchive: sessions our failed attempts left in the prearchive are deleted before resending.
   * Throws XnatError kind "fallback" when XNAT put the data elsewhere than asked (it silently
   * falls back to DICOM routing or Unassigned when the account cannot create in the project).
   */
  async importDicomZip(input: ImportDicomZipInput): Promise<ImportResult> {
    const path = "/data/services/import";
    for (const [k, v] of Object.entries({ project: input.project, subject: input.subject, session: input.session })) {
      if (!LABEL.test(v ?? "")) {
        throw new XnatError({ kind: "usage", method: "POST", path, hint: `The ${k} must be 1–64 letters, digits, '_' or '-' (XNAT's label rule).` });
      }
    }
    if (input.files.length === 0) throw new XnatError({ kind: "usage", method: "POST", path, hint: "Nothing to send: the file list is empty." });
    const destination = input.destination ?? "archive";
    let overwrite: OverwriteMode = input.overwrite ?? "none";
    const manifest = manifestOf(input.files);
    const policy = this.transport.retryPolicy;

    if (destination === "archive" && overwrite === "none") {
      const existing = await this.getExperimentRow(input.project, input.session);
      if (existing) {
        throw new XnatError({
          kind: "conflict",
          method: "POST",
          path,
          hint: `Experiment ${input.session} already exists in project ${input.project} (${existing.ID}); send with overwrite "append" to merge into it.`,
        });
      }
    }
    const prearchiveBefore = destination === "prearchive" ? new Set((await this.matchingPrearchive(input)).map((r) => r.url)) : undefined;

    for (let attempt = 0; ; attempt++) {
      try {
        const res = await this.transport.request({
          method: "POST",
          path,
          query: {
            "import-handler": "DICOM-zip",
            inbody: "true",
            project: input.project,
            subject: input.subject,
            session: input.session,
            dest: destination === "archive" ? `/archive/projects/${input.project}` : `/prearchive/projects/${input.project}`,
            overwrite,
            prevent_anon: "true",
            quarantine: input.quarantine === undefined ? undefined : String(input.quarantine),
            triggerPipelines: input.triggerPipelines === undefined ? undefined : String(input.triggerPipelines),
            SOURCE: input.source ?? "atrium",
            // Unnamed entries would get counter names (000001.dcm…), and on a merge XNAT keeps an
            // older, different instance under the same name: let XNAT name those files itself (its
            // SOP-hash namer, the same name on every attempt).
            rename: input.files.some((f) => !f.name) ? "true" : undefined,
          },
          body: () => dicomZipStream(input.files, { compressionLevel: input.compressionLevel, onProgress: input.onProgress }),
          contentType: "application/zip",
          accept: [200],
          retry: false,
          timeoutMs: input.timeoutMs ?? this.uploadTimeoutMs,
        });
        return this.readImportResult(res, input, destination, manifest, attempt + 1, overwrite);
      } catch (err) {
        if (!(err instanceof XnatError)) throw err;
        if (err.kind === "http" && err.status === 400 && /failed to archive/i.test(err.serverMessage ?? "")) {
          throw new XnatError({
            kind: "conflict",
            method: "POST",
            path,
            status: 400,
            serverMessage: err.serverMessage,
            attempts: attempt + 1,
            hint: `XNAT could not archive into ${input.project}/${input.session}; the session is left in the prearchive. If the experiment exists, send with overwrite "append".`,
          });
        }
        if (!err.retryable || attempt >= policy.retries) {
          if (err.attempts === attempt + 1) throw err;
          throw new XnatError({ kind: err.kind, method: err.method, path: err.path, status: err.status, serverMessage: err.serverMessage, hint: err.hint, attempts: attempt + 1 });
        }
        await policy.sleep(backoffDelay(attempt, policy));
        // Reconcile before re-sending: whatever the failed attempt stored must not be doubled.
        if (destination === "archive" && overwrite === "none") overwrite = "append";
        if (prearchiveBefore) {
          for (const row of await this.matchingPrearchive(input)) {
            if (!prearchiveBefore.has(row.url)) {
              const ref = parseXnatUri(row.url);
              if (ref.kind === "prearchive") await this.deletePrearchiveSession(ref);
            }
          }
        }
      }
    }
  }

  private async getExperimentRow(project: string, label: string): Promise<ExperimentRow | undefined> {
    const list = await this.listExperiments(project, { label });
    return list.find((e) => e.label === label);
  }

  private async matchingPrearchive(input: ImportDicomZipInput): Promise<PrearchiveRow[]> {
    const list = await this.listPrearchive(input.project);
    return list.filter((r) => r.subject === input.subject && (r.folderName === input.session || r.name === input.session));
  }

  private readImportResult(
    res: XnatResponse,
    input: ImportDicomZipInput,
    destination: "archive" | "prearchive",
    manifest: DicomZipManifest,
    attempts: number,
    overwriteUsed: OverwriteMode,
  ): ImportResult {
    const path = "/data/services/import";
    const uris = parseUriList(res.text()).map(parseXnatUri);
    const raw = uris.map((u) => u.uri);
    if (uris.length === 0) {
      throw new XnatError({
        kind: "verification",
        method: "POST",
        path,
        status: res.status,
        attempts,
        hint: "XNAT accepted the upload but created no session: the files may all have been dropped by a series import filter or were not DICOM.",
      });
    }
    const wrong = uris.filter((u) => !(u.kind === destination && "project" in u && u.project === input.project));
    if (wrong.length > 0) {
      const where = wrong.map((u) => ("project" in u ? `${u.kind} of project ${u.project}` : u.kind)).join(", ");
      throw new XnatError({
        kind: "fallback",
        method: "POST",
        path,
        status: res.status,
        attempts,
        uris: raw,
        hint: `XNAT stored the upload in the ${where} instead of the ${destination} of project ${input.project}. XNAT does this silently when the account may not create in that project: make the account a Member or Owner of ${input.project}, then move or archive the session (see uris).`,
      });
    }
    const result: ImportResult = { uris, manifest, attempts, overwriteUsed };
    if (destination === "archive") {
      const a = uris[0] as Extract<XnatUri, { kind: "archive" }>;
      result.experiment = { project: a.project, subject: a.subject, experiment: a.experiment, uri: a.uri };
    } else {
      result.prearchive = uris.map((u) => {
        const p = u as Extract<XnatUri, { kind: "prearchive" }>;
        return { project: p.project, timestamp: p.timestamp, folder: p.folder };
      });
    }
    return result;
  }

  /**
   * Checks what XNAT holds for an experiment against what was sent: file count and bytes in the
   * DICOM resource of every scan (from the file listings), optionally per series UID.
   */
  async verifyExperiment(ref: ExperimentRef, expected: VerifyExpectation): Promise<VerifyReport> {
    const exp = await this.getExperiment(ref);
    if (!exp) {
      return { ok: false, experimentId: "", files: 0, bytes: 0, scans: [], problems: [`experiment ${ref.experiment} not found in ${ref.project}`], notes: [] };
    }
    const resource = expected.resource ?? "DICOM";
    const scans: VerifyReport["scans"] = [];
    for (const s of exp.scans) {
      const files = (await this.listScanFiles({ project: exp.project, experiment: exp.id, scan: s.id })).filter(
        (f) => f.collection === resource,
      );
      scans.push({ id: s.id, uid: s.uid, files: files.length, bytes: files.reduce((n, f) => n + Number(f.Size), 0), names: files.map((f) => f.Name) });
    }
    const files = scans.reduce((n, s) => n + s.files, 0);
    const bytes = scans.reduce((n, s) => n + s.bytes, 0);
    const exact = (expected.mode ?? "exact") === "exact";
    const problems: string[] = [];
    const cmp = (what: string, have: number, want: number) => {
      if (exact ? have !== want : have < want) problems.push(`${what}: XNAT has ${have}, expected ${exact ? "" : "at least "}${want}`);
    };
    const notes: string[] = [];
    cmp("files", files, expected.files);
    for (const want of expected.scans ?? []) {
      const have = scans.find((s) => s.uid === want.uid);
      if (!have) {
        problems.push(`series ${want.uid}: missing on XNAT`);
        continue;
      }
      cmp(`scan ${have.id} files`, have.files, want.files);
      if (want.sopInstanceUids) {
        // Instances by identity: XNAT keeps the entry names it was sent (<SOP Instance UID>.dcm).
        const held = new Set(have.names.map((n) => n.replace(/\.dcm$/i, "")));
        const missing = want.sopInstanceUids.filter((u) => !held.has(u));
        if (missing.length) problems.push(`scan ${have.id}: ${missing.length} of ${want.sopInstanceUids.length} instances missing on XNAT`);
        if (exact) {
          const wanted = new Set(want.sopInstanceUids);
          const extra = [...held].filter((u) => !wanted.has(u)).length;
          if (extra) problems.push(`scan ${have.id}: ${extra} files on XNAT that were not sent`);
        }
      }
    }
    notes.push(...sizeNotes(expected, scans, bytes));
    return { ok: problems.length === 0, experimentId: exp.id, files, bytes, scans, problems, notes };
  }

  // ── Prearchive ──────────────────────────────────────────────────────────────────────────

  /** Prearchive sessions this account can see, of one project or all (use "Unassigned" for unrouted). */
  async listPrearchive(project?: string): Promise<PrearchiveRow[]> {
    const path = project ? `/data/prearchive/projects/${enc(project)}` : "/data/prearchive/projects";
    return rows<PrearchiveRow>(await this.get(path));
  }

  async getPrearchiveSession(ref: PrearchiveRef): Promise<PrearchiveRow | null> {
    const res = await this.get(prearchiveApiPath(ref), {}, [200, 404]);
    return res.status === 404 ? null : (rows<PrearchiveRow>(res)[0] ?? null);
  }

  async listPrearchiveScans(ref: PrearchiveRef): Promise<Array<{ ID: string; series_description: string; [k: string]: string }>> {
    return rows(await this.get(`${prearchiveApiPath(ref)}/scans`));
  }

  /** Rebuilds the session document (POST …?action=build). */
  async buildPrearchiveSession(ref: PrearchiveRef): Promise<XnatUri[]> {
    const res = await this.transport.request({ method: "POST", path: prearchiveApiPath(ref), query: { action: "build" }, accept: [200], retry: true });
    return parseUriList(res.text()).map(parseXnatUri);
  }

  /** Builds and, if the session is auto-archive, archives it (301 with the archive URI). */
  async commitPrearchiveSession(ref: PrearchiveRef): Promise<XnatUri> {
    const res = await this.transport.request({ method: "POST", path: prearchiveApiPath(ref), query: { action: "commit" }, accept: [200, 301], retry: true });
    return parseXnatUri(res.headers.get("location") ?? parseUriList(res.text())[0] ?? "");
  }

  /**
   * Moves a prearchive session to another project (POST …?action=move&newProject=, 301 with the new
   * URI). A retry after a lost answer finds the session in the target instead of failing.
   */
  async movePrearchiveSession(ref: PrearchiveRef, newProject: string): Promise<PrearchiveRef> {
    const path = prearchiveApiPath(ref);
    const policy = this.transport.retryPolicy;
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await this.transport.request({ method: "POST", path, query: { action: "move", newProject }, accept: [200, 301], retry: false });
        const u = parseXnatUri(res.headers.get("location") ?? parseUriList(res.text())[0] ?? "");
        if (u.kind !== "prearchive") throw new XnatError({ kind: "verification", method: "POST", path, status: res.status, hint: "XNAT answered the move without a prearchive URI." });
        return { project: u.project, timestamp: u.timestamp, folder: u.folder };
      } catch (err) {
        if (!(err instanceof XnatError) || !err.retryable || attempt >= policy.retries) throw err;
        await policy.sleep(backoffDelay(attempt, policy));
        if (!(await this.getPrearchiveSession(ref))) {
          const moved = (await this.listPrearchive(newProject)).find((r) => r.folderName === ref.folder && r.timestamp === ref.timestamp);
          if (moved) return { project: moved.project, timestamp: moved.timestamp, folder: moved.folderName };
        }
      }
    }
  }

  /** Batch move (POST /data/services/prearchive/move, synchronous). */
  async movePrearchiveSessions(refs: PrearchiveRef[], newProject: string): Promise<void> {
    await this.transport.request({
      method: "POST",
      path: "/data/services/prearchive/move",
      query: { src: refs.map(prearchivePath), newProject, async: "false" },
      accept: [200],
      retry: false,
    });
  }

  /**
   * Archives one prearchive session (POST /data/services/archive); returns the experiment URI.
   * A retry after a lost answer first checks whether the session already left the prearchive.
   */
  async archivePrearchiveSession(
    ref: PrearchiveRef,
    opts: { overwrite?: OverwriteMode; project?: string; subject?: string; session?: string; quarantine?: boolean; triggerPipelines?: boolean } = {},
  ): Promise<XnatUri> {
    const path = "/data/services/archive";
    const policy = this.transport.retryPolicy;
    let overwrite = opts.overwrite;
    // The label the session will have in the archive, to recognise it after a lost answer.
    // The label the session will have in the archive, to recognise it after a lost answer.
    const label = opts.session ?? (await this.getPrearchiveSession(ref))?.name;
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await this.transport.request({
          method: "POST",
          path,
          query: {
            src: prearchivePath(ref),
            overwrite,
            project: opts.project,
            subject: opts.subject,
            session: opts.session,
            dest: opts.project ? `/archive/projects/${opts.project}` : undefined,
            quarantine: opts.quarantine === undefined ? undefined : String(opts.quarantine),
            triggerPipelines: opts.triggerPipelines === undefined ? undefined : String(opts.triggerPipelines),
          },
          accept: [200, 301],
          retry: false,
        });
        return parseXnatUri(res.headers.get("location") ?? parseUriList(res.text())[0] ?? "");
      } catch (err) {
        if (!(err instanceof XnatError) || !err.retryable || attempt >= policy.retries) throw err;
        await policy.sleep(backoffDelay(attempt, policy));
        const row = await this.getPrearchiveSession(ref);
        if (!row && label) {
          const project = opts.project ?? ref.project;
          const e = await this.getExperiment({ project, experiment: label });
          if (e) return parseXnatUri(`/data/archive/projects/${project}/subjects/${e.subjectId}/experiments/${e.id}`);
        }
        if (overwrite === undefined || overwrite === "none") overwrite = "append";
      }
    }
  }

  /** Deletes a prearchive session (DELETE; 403 without edit rights). */
  async deletePrearchiveSession(ref: PrearchiveRef): Promise<void> {
    await this.transport.request({ method: "DELETE", path: prearchiveApiPath(ref), accept: [200, 204, 404] });
  }
}
