// A faithful XNAT test server (plain node:http), implementing §10 of
// shared/reference/xnat-api.md: sessions (JSESSIONID), Basic auth with user or alias token,
// projects/subjects/experiments/scans/resources/files with 201-vs-200 and accession ids,
// ResultSet listings, the import service (DICOM-zip read as java.util.zip.ZipInputStream does,
// tar and tar.gz, gradual-DICOM), the prearchive and the archive service, project roles,
// accessibility and the silent fallback to DICOM routing (then Unassigned) when the account may
// not create in the requested project. Uploaded DICOM is really parsed (dcmjs) to build scans and
// file listings with real counts and sizes.
//
// It injects failures: a status (e.g. 503), a hang, a dropped connection or a delay, on the next N
// calls matching a method and path, before or after the call took effect.
//
// Where the reference is silent, choices are marked "assumed".
import { createHash, randomBytes, randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import zlib from "node:zlib";
import { rewriteLikeDcm4che2 } from "./dcm4che";

// dcmjs ships no type declarations; load it through a non-literal specifier and type the part we use.
interface DcmjsLike {
  data: {
    DicomMessage: { readFile(buf: ArrayBuffer, opts: Record<string, unknown>): { dict: Record<string, unknown>; meta: Record<string, unknown> } };
    DicomMetaDictionary: { naturalizeDataset(d: Record<string, unknown>): Record<string, unknown> };
  };
  log: { setLevel(level: string): void };
}
const dcmjsSpecifier = "dcmjs";
const dcmjsModule = (await import(dcmjsSpecifier)) as { default?: DcmjsLike } & DcmjsLike;
const dcmjs: DcmjsLike = dcmjsModule.default ?? dcmjsModule;
dcmjs.log.setLevel("error");

// ── Model ───────────────────────────────────────────────────────────────────────────────────

export interface TestUser {
  login: string;
  password: string;
  admin?: boolean;
  firstname?: string;
  lastname?: string;
  email?: string;
}

type Accessibility = "public" | "protected" | "private";
type Role = "owner" | "member" | "collaborator";

interface Project {
  id: string;
  secondaryId: string;
  name: string;
  description: string;
  accessibility: Accessibility;
  prearchiveCode: number;
  owners: Set<string>;
  members: Set<string>;
  collaborators: Set<string>;
  /** Project-level resources (…/projects/{id}/resources/…). */
  resources: Map<string, Resource>;
}

interface Subject {
  id: string;
  label: string;
  project: string;
  insertDate: string;
  insertUser: string;
  fields: Record<string, string>;
  /** Subject-level resources (…/subjects/{id}/resources/…). */
  resources: Map<string, Resource>;
}

export interface StoredFile {
  name: string;
  size: number;
  digest: string;
  data?: Buffer;
  /** DICOM files: the SOP Instance UID (XNAT's catalog keeps it as the entry's UID). */
  sopInstance?: string;
  content?: string;
  format?: string;
  tags?: string;
}

interface Resource {
  id: number;
  label: string;
  format?: string;
  content?: string;
  files: Map<string, StoredFile>;
}

interface Scan {
  id: string;
  xsiType: string;
  type?: string;
  seriesDescription?: string;
  uid?: string;
  modality?: string;
  quality: string;
  fields: Record<string, string>;
  resources: Map<string, Resource>;
}

export interface Experiment {
  id: string;
  label: string;
  project: string;
  subjectId: string;
  xsiType: string;
  date?: string;
  time?: string;
  uid?: string;
  modality?: string;
  insertDate: string;
  fields: Record<string, string>;
  scans: Map<string, Scan>;
  resources: Map<string, Resource>;
}

interface PrearcScan {
  id: string;
  uid: string;
  seriesDescription: string;
  modality: string;
  files: Map<string, StoredFile>;
}

export interface PrearcSession {
  project: string;
  timestamp: string;
  folder: string;
  name: string;
  subject: string;
  status: string;
  tag: string;
  uploaded: Date;
  lastmod: Date;
  scanDate: string;
  scanTime: string;
  autoarchive: string;
  preventAnon: boolean;
  preventAutoCommit: boolean;
  source: string;
  visit: string;
  protocol: string;
  timezone: string;
  modality: string;
  uploader: string;
  locked: boolean;
  scans: Map<string, PrearcScan>;
}

interface Session {
  id: string;
  user: string;
  expires: number;
  csrf: string;
}

interface Token {
  alias: string;
  secret: string;
  user: string;
  expires: number;
  created: number;
  id: number;
}

export interface Fault {
  method?: string;
  /** Matched against the path (after /REST→/data normalisation, without query). */
  path: RegExp | string;
  kind: "status" | "hang" | "drop" | "slow";
  /** For kind status. Default 503. */
  status?: number;
  /** How many matching calls it applies to. Default 1. */
  times?: number;
  /** before (default): instead of handling the call; after: the call takes effect first. */
  phase?: "before" | "after";
  /** For kind slow. */
  delayMs?: number;
}

export interface RequestRecord {
  method: string;
  path: string;
  query: Record<string, string | string[]>;
  status: number | "hang" | "drop";
  auth: "session" | "basic" | "none";
  user?: string;
  contentType?: string;
  bodyBytes?: number;
}

export interface XnatTestServerOptions {
  users?: TestUser[];
  /** Session inactivity timeout announced in SESSION_EXPIRATION_TIME. Default 15 min. */
  sessionTimeoutMs?: number;
  /** Refuse PUT/POST/DELETE over a cookie session without XNAT_CSRF (XNAT's optional setting). */
  requireCsrf?: boolean;
  /** Keep file bytes (for downloads). Default true; benchmarks turn it off. */
  keepFileData?: boolean;
  version?: string;
  /** Rewrite imported DICOM as XNAT's dcm4che2 DicomOutputStream does (default true). */
  rewriteDicom?: boolean;
  /** Decompress compressed transfer syntaxes on import, as some XNAT versions do (default false). */
  decompress?: boolean;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

interface Reply {
  status: number;
  headers?: Record<string, string | string[]>;
  body?: string | Buffer;
}

const STATUS_TEXT: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  406: "Not Acceptable",
  409: "Conflict",
  422: "Unprocessable Entity",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
};

function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** Restlet's status page, as XNAT's /data API answers errors. */
function errorPage(status: number, message: string): Reply {
  const title = STATUS_TEXT[status] ?? "Error";
  const body =
    `<html>\n<head>\n   <title>Status page</title>\n</head>\n<body style="font-family: sans-serif;">\n` +
    `<p style="font-size: 1.2em;font-weight: bold;margin: 1em 0px;">${escapeHtml(title)}</p>\n` +
    `<p>${escapeHtml(message)}</p>\n` +
    `<p>You can get technical details <a href="http://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html">here</a>.<br>\n` +
    `Please continue your visit at our <a href="/">home page</a>.\n</p>\n</body>\n</html>\n`;
  return { status, headers: { "Content-Type": "text/html;charset=UTF-8" }, body };
}

function text(status: number, body: string, type = "text/plain;charset=UTF-8"): Reply {
  return { status, headers: { "Content-Type": type }, body };
}

function json(status: number, value: unknown): Reply {
  return { status, headers: { "Content-Type": "application/json;charset=UTF-8" }, body: JSON.stringify(value) };
}

function uriList(status: number, uris: string[], extra: Record<string, string> = {}): Reply {
  return { status, headers: { "Content-Type": "text/uri-list;charset=UTF-8", ...extra }, body: uris.map((u) => `${u}\r\n`).join("") };
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, "0");
}

function xnatDateTime(d: Date): string {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

function prearcTimestamp(d: Date): string {
  return `${d.getFullYear()}${pad(d.getMonth() + 1)}${pad(d.getDate())}_${pad(d.getHours())}${pad(d.getMinutes())}${pad(d.getSeconds())}${pad(d.getMilliseconds(), 3)}`;
}

function wildcard(pattern: string, value: string): boolean {
  if (!pattern.includes("*")) return pattern.toLowerCase() === value.toLowerCase();
  const re = new RegExp(`^${pattern.split("*").map((p) => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`, "i");
  return re.test(value);
}

/** XNAT label rule: letters, digits, _ and -; anything else becomes _ (assumed, as XNAT's uploaders do). */
function cleanLabel(s: string): string {
  return s.trim().replace(/[^A-Za-z0-9_-]/g, "_");
}

// ── Archives: ZipInputStream emulation, tar, gzip, multipart ──────────────────────────────

interface Entry {
  name: string;
  data: Buffer;
}

/** Reads a zip the way java.util.zip.ZipInputStream does: local headers in order, no central directory. */
export function readZipLikeJava(buf: Buffer): Entry[] {
  const entries: Entry[] = [];
  let pos = 0;
  while (pos + 4 <= buf.length) {
    const sig = buf.readUInt32LE(pos);
    if (sig === 0x02014b50 || sig === 0x06054b50 || sig === 0x06064b50) break;
    if (sig !== 0x04034b50) throw new HttpError(400, "java.util.zip.ZipException: invalid LOC header (bad signature)");
    if (pos + 30 > buf.length) throw new HttpError(400, "java.io.EOFException: Unexpected end of ZLIB input stream");
    const flags = buf.readUInt16LE(pos + 6);
    const method = buf.readUInt16LE(pos + 8);
    const crc = buf.readUInt32LE(pos + 14);
    const csize = buf.readUInt32LE(pos + 18);
    const usize = buf.readUInt32LE(pos + 22);
    const nlen = buf.readUInt16LE(pos + 26);
    const xlen = buf.readUInt16LE(pos + 28);
    const name = buf.subarray(pos + 30, pos + 30 + nlen).toString(flags & 0x800 ? "utf8" : "latin1");
    const extra = buf.subarray(pos + 30 + nlen, pos + 30 + nlen + xlen);
    const zip64 = extra.length >= 4 && extra.readUInt16LE(0) === 0x0001;
    const start = pos + 30 + nlen + xlen;
    if (flags & 1) throw new HttpError(400, "java.util.zip.ZipException: encrypted ZIP entry not supported");
    let data: Buffer;
    let expectCrc = crc;
    let expectSize = usize;
    if (method === 0) {
      if (flags & 8) throw new HttpError(400, "java.util.zip.ZipException: only DEFLATED entries can have EXT descriptor");
      if (start + csize > buf.length) throw new HttpError(400, "java.io.EOFException: Unexpected end of ZLIB input stream");
      data = buf.subarray(start, start + csize);
      pos = start + csize;
    } else if (method === 8) {
      let consumed: number;
      try {
        const r = zlib.inflateRawSync(buf.subarray(start), { info: true }) as unknown as { buffer: Buffer; engine: { bytesWritten: number } };
        data = r.buffer;
        consumed = r.engine.bytesWritten;
      } catch {
        throw new HttpError(400, "java.util.zip.ZipException: invalid stored block lengths");
      }
      pos = start + consumed;
      if (flags & 8) {
        if (buf.readUInt32LE(pos) === 0x08074b50) pos += 4;
        expectCrc = buf.readUInt32LE(pos);
        if (zip64) {
          expectSize = Number(buf.readBigUInt64LE(pos + 12));
          pos += 20;
        } else {
          expectSize = buf.readUInt32LE(pos + 8);
          pos += 12;
        }
      }
    } else {
      throw new HttpError(400, `java.util.zip.ZipException: invalid compression method ${method}`);
    }
    if (expectSize !== 0xffffffff && data.length % 2 ** 32 !== expectSize) {
      throw new HttpError(400, `java.util.zip.ZipException: invalid entry size (expected ${expectSize} but got ${data.length} bytes)`);
    }
    if ((zlib.crc32(data) >>> 0) !== expectCrc >>> 0) throw new HttpError(400, "java.util.zip.ZipException: invalid entry CRC");
    if (!name.endsWith("/")) entries.push({ name, data: Buffer.from(data) });
  }
  return entries;
}

export function readTar(buf: Buffer): Entry[] {
  const entries: Entry[] = [];
  let pos = 0;
  while (pos + 512 <= buf.length) {
    const header = buf.subarray(pos, pos + 512);
    if (header.every((b) => b === 0)) break;
    const field = (a: number, b: number) => header.subarray(a, b).toString("latin1").replace(/\0.*$/s, "");
    const prefix = header.subarray(257, 263).toString("latin1").startsWith("ustar") ? field(345, 500) : "";
    const name = prefix ? `${prefix}/${field(0, 100)}` : field(0, 100);
    const size = parseInt(field(124, 136).trim() || "0", 8);
    const type = field(156, 157) || "0";
    const start = pos + 512;
    if (type === "0" || type === "\0") entries.push({ name, data: Buffer.from(buf.subarray(start, start + size)) });
    pos = start + Math.ceil(size / 512) * 512;
  }
  return entries;
}

/** A zip of stored (uncompressed) entries with a central directory, as XNAT's download zips are read by clients. */
export function storedZip(entries: Array<{ name: string; data: Buffer }>): Buffer {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, "utf8");
    const crc = zlib.crc32(e.data) >>> 0;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt16LE(0, 8); // stored
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(e.data.length, 18);
    local.writeUInt32LE(e.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    const dir = Buffer.alloc(46);
    dir.writeUInt32LE(0x02014b50, 0);
    dir.writeUInt16LE(20, 4);
    dir.writeUInt16LE(20, 6);
    dir.writeUInt16LE(0x0800, 8);
    dir.writeUInt32LE(crc, 16);
    dir.writeUInt32LE(e.data.length, 20);
    dir.writeUInt32LE(e.data.length, 24);
    dir.writeUInt16LE(name.length, 28);
    dir.writeUInt32LE(offset, 42);
    parts.push(local, name, e.data);
    central.push(dir, name);
    offset += 30 + name.length + e.data.length;
  }
  const cd = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, cd, end]);
}

type ArchiveFormat = "zip" | "tar" | "tgz";

function formatOf(name: string): ArchiveFormat | undefined {
  const n = name.toLowerCase();
  if (n.endsWith(".zip")) return "zip";
  if (n.endsWith(".tar.gz") || n.endsWith(".tgz")) return "tgz";
  if (n.endsWith(".tar")) return "tar";
  return undefined;
}

/** Expands an archive, recursing into nested archives by extension (as DicomZipImporter does). */
function expand(format: ArchiveFormat, data: Buffer, depth = 0): Entry[] {
  let list: Entry[];
  if (format === "zip") list = readZipLikeJava(data);
  else if (format === "tar") list = readTar(data);
  else {
    let raw: Buffer;
    try {
      raw = zlib.gunzipSync(data);
    } catch {
      throw new HttpError(400, "java.util.zip.ZipException: Not in GZIP format");
    }
    list = readTar(raw);
  }
  const out: Entry[] = [];
  for (const e of list) {
    const nested = formatOf(e.name);
    if (nested && depth < 4) out.push(...expand(nested, e.data, depth + 1));
    else out.push(e);
  }
  return out;
}

interface Part {
  name: string;
  filename?: string;
  contentType?: string;
  data: Buffer;
}

function parseMultipart(body: Buffer, contentType: string): Part[] {
  const m = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
  if (!m) throw new HttpError(400, "Malformed multipart request: no boundary");
  const boundary = Buffer.from(`--${m[1] ?? m[2]}`);
  const parts: Part[] = [];
  let pos = body.indexOf(boundary);
  while (pos >= 0) {
    const next = body.indexOf(boundary, pos + boundary.length);
    if (next < 0) break;
    const chunk = body.subarray(pos + boundary.length + 2, next - 2); // skip CRLF after boundary and before next
    const split = chunk.indexOf("\r\n\r\n");
    if (split >= 0) {
      const head = chunk.subarray(0, split).toString("utf8");
      const data = chunk.subarray(split + 4);
      const disp = /content-disposition:[^\r\n]*/i.exec(head)?.[0] ?? "";
      parts.push({
        name: /\bname="([^"]*)"/i.exec(disp)?.[1] ?? "",
        filename: /\bfilename="([^"]*)"/i.exec(disp)?.[1],
        contentType: /content-type:\s*([^\r\n]+)/i.exec(head)?.[1],
        data: Buffer.from(data),
      });
    }
    pos = next;
  }
  return parts;
}

// ── DICOM ───────────────────────────────────────────────────────────────────────────────────

interface Instance {
  studyUid: string;
  seriesUid: string;
  seriesNumber: string;
  instanceNumber: string;
  sopClass: string;
  sopInstance: string;
  modality: string;
  seriesDescription: string;
  patientComments: string;
  studyComments: string;
  additionalPatientHistory: string;
  studyDescription: string;
  accessionNumber: string;
  patientName: string;
  patientId: string;
  studyDate: string;
  studyTime: string;
  /** The name the file had in the upload (zip entry name). */
  entryName: string;
  data: Buffer;
}

/** One element's first value as text, from the raw dict (dcmjs drops e.g. NUL-padded IS values; dcm4che reads them). */
function val(dict: Record<string, unknown>, tag: string): string {
  const el = dict[tag] as { Value?: unknown[]; _rawValue?: unknown[] } | undefined;
  if (!el) return "";
  let v: unknown = el.Value?.[0];
  if (v === undefined || v === null) v = el._rawValue?.[0];
  if (v === undefined || v === null) return "";
  if (typeof v === "object") v = (v as Record<string, unknown>).Alphabetic ?? "";
  return String(v).replace(/[\0\s]+$/g, "").trim();
}

function parseDicom(name: string, data: Buffer): Instance {
  let dict: Record<string, unknown>;
  let meta: Record<string, unknown>;
  try {
    const ab = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
    const msg = dcmjs.data.DicomMessage.readFile(ab, { ignoreErrors: true, untilTag: "7FE00010", includeUntilTagValue: false, noCopy: false, forceStoreRaw: false });
    dict = msg.dict;
    meta = msg.meta;
  } catch {
    throw new HttpError(400, `Unable to parse ${name} as DICOM`);
  }
  const sopClass = val(dict, "00080016") || val(meta, "00020002");
  const sopInstance = val(dict, "00080018") || val(meta, "00020003");
  if (!sopClass) throw new HttpError(400, `object ${name} contains no SOP Class UID`);
  if (!sopInstance) throw new HttpError(400, `object ${name} contains no SOP Instance UID`);
  return {
    studyUid: val(dict, "0020000D"),
    seriesUid: val(dict, "0020000E"),
    seriesNumber: val(dict, "00200011"),
    instanceNumber: val(dict, "00200013"),
    sopClass,
    sopInstance,
    modality: val(dict, "00080060"),
    seriesDescription: val(dict, "0008103E"),
    patientComments: val(dict, "00104000"),
    studyComments: val(dict, "00324000"),
    additionalPatientHistory: val(dict, "001021B0"),
    studyDescription: val(dict, "00081030"),
    accessionNumber: val(dict, "00080050"),
    patientName: val(dict, "00100010"),
    patientId: val(dict, "00100020"),
    studyDate: val(dict, "00080020"),
    studyTime: val(dict, "00080030"),
    entryName: name,
    data,
  };
}

/** dicom-xnat-util ContainedAssignmentExtractor: `Key: value` inside a free-text element. */
export function containedAssignment(text: string, key: string): string | undefined {
  const re = new RegExp(`(?:^|[\\s,;])${key}\\s*:\\s*([\\w\\-]*)(?=[\\s,;]|$)`, "i");
  const v = re.exec(text)?.[1];
  return v ? v : undefined;
}

const SESSION_TYPES: Record<string, string> = {
  MR: "xnat:mrSessionData",
  CT: "xnat:ctSessionData",
  PT: "xnat:petSessionData",
  US: "xnat:usSessionData",
  CR: "xnat:crSessionData",
  DX: "xnat:dxSessionData",
  MG: "xnat:mgSessionData",
  NM: "xnat:nmSessionData",
  XA: "xnat:xaSessionData",
  ECG: "xnat:ecgSessionData",
};
const SCAN_TYPES: Record<string, string> = {
  MR: "xnat:mrScanData",
  CT: "xnat:ctScanData",
  PT: "xnat:petScanData",
  US: "xnat:usScanData",
  CR: "xnat:crScanData",
  DX: "xnat:dxScanData",
  MG: "xnat:mgScanData",
  NM: "xnat:nmScanData",
  XA: "xnat:xaScanData",
  SEG: "xnat:segScanData",
  SR: "xnat:srScanData",
};

/** XNAT 1.8 default file namer: ${StudyInstanceUID}-${SeriesNumber}-${InstanceNumber}-${HashSOPClassUIDWithSOPInstanceUID}. */
function archiveFileName(i: Instance): string {
  const h = createHash("sha1").update(`${i.sopClass}${i.sopInstance}`).digest().readUInt32BE(0).toString(16);
  return `${i.studyUid}-${i.seriesNumber || "0"}-${i.instanceNumber || "0"}-${h}.dcm`;
}

// ── The server ──────────────────────────────────────────────────────────────────────────────

export class XnatTestServer {
  url = "";
  readonly users = new Map<string, TestUser>();
  readonly projects = new Map<string, Project>();
  readonly subjects = new Map<string, Subject>();
  readonly experiments = new Map<string, Experiment>();
  readonly prearchive: PrearcSession[] = [];
  readonly sessions = new Map<string, Session>();
  readonly tokens = new Map<string, Token>();
  readonly requests: RequestRecord[] = [];
  readonly faults: Fault[] = [];
  readonly stats = { sessionsCreated: 0, sessionsDeleted: 0, imports: 0 };
  private readonly server: http.Server;
  private readonly sockets = new Set<Socket>();
  private readonly opts: Required<Omit<XnatTestServerOptions, "users">>;
  private subjectSeq = 0;
  private experimentSeq = 0;
  private resourceSeq = 0;
  private tokenSeq = 0;
  private lastTimestamp = "";

  constructor(options: XnatTestServerOptions = {}) {
    this.opts = {
      sessionTimeoutMs: options.sessionTimeoutMs ?? 15 * 60_000,
      requireCsrf: options.requireCsrf ?? false,
      keepFileData: options.keepFileData ?? true,
      version: options.version ?? "1.8.10",
      rewriteDicom: options.rewriteDicom ?? true,
      decompress: options.decompress ?? false,
    };
    for (const u of options.users ?? [{ login: "admin", password: "admin", admin: true }]) this.users.set(u.login, u);
    this.server = http.createServer((req, res) => {
      void this.dispatch(req, res);
    });
    this.server.keepAliveTimeout = 5_000;
    this.server.on("connection", (s) => {
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    const { port } = this.server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}`;
    return this.url;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ── Test controls ──

  addUser(u: TestUser): void {
    this.users.set(u.login, u);
  }

  addProject(
    id: string,
    o: { owners?: string[]; members?: string[]; collaborators?: string[]; accessibility?: Accessibility; prearchiveCode?: number; name?: string } = {},
  ): void {
    this.projects.set(id, {
      id,
      secondaryId: id,
      name: o.name ?? id,
      description: "",
      accessibility: o.accessibility ?? "private",
      prearchiveCode: o.prearchiveCode ?? 0,
      owners: new Set(o.owners ?? []),
      members: new Set(o.members ?? []),
      collaborators: new Set(o.collaborators ?? []),
      resources: new Map(),
    });
  }

  inject(fault: Fault): void {
    this.faults.push({ times: 1, phase: "before", ...fault });
  }

  /** Invalidates every session, as a server restart or the inactivity timeout would. */
  expireSessions(): void {
    this.sessions.clear();
  }

  /** Locks a prearchive session (its actions answer 409 until unlocked). */
  lockPrearchive(project: string, folder: string, locked = true): void {
    for (const s of this.prearchive) if (s.project === project && s.folder === folder) s.locked = locked;
  }

  experimentsByLabel(project: string, label: string): Experiment[] {
    return [...this.experiments.values()].filter((e) => e.project === project && e.label === label);
  }

  /** Files of an experiment: [scanId, fileName, size]. */
  filesOf(e: Experiment): Array<{ scan: string; name: string; size: number }> {
    const out: Array<{ scan: string; name: string; size: number }> = [];
    for (const s of e.scans.values()) for (const r of s.resources.values()) for (const f of r.files.values()) out.push({ scan: s.id, name: f.name, size: f.size });
    return out;
  }

  callsTo(method: string, path: RegExp | string): RequestRecord[] {
    return this.requests.filter((r) => r.method === method && (typeof path === "string" ? r.path === path : path.test(r.path)));
  }

  // ── Dispatch, faults, auth ──

  private takeFault(method: string, path: string): Fault | undefined {
    const f = this.faults.find(
      (x) => (x.times ?? 1) > 0 && (!x.method || x.method === method) && (typeof x.path === "string" ? x.path === path : x.path.test(path)),
    );
    if (f) f.times = (f.times ?? 1) - 1;
    return f;
  }

  private async dispatch(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const u = new URL(req.url ?? "/", "http://x");
    const path = u.pathname.replace(/^\/REST(?=\/|$)/, "/data").replace(/^\/data\/archive(?=\/)/, "/data");
    const method = req.method ?? "GET";
    const query: Record<string, string | string[]> = {};
    for (const [k, v] of u.searchParams) {
      const prev = query[k];
      query[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
    }
    const record: RequestRecord = { method, path, query, status: 0, auth: "none", contentType: req.headers["content-type"] };
    this.requests.push(record);
    const fault = this.takeFault(method, path);
    if (fault && fault.phase !== "after") {
      if (fault.kind === "hang") {
        record.status = "hang";
        req.resume();
        return;
      }
      if (fault.kind === "drop") {
        record.status = "drop";
        req.socket.destroy();
        return;
      }
      if (fault.kind === "status") {
        req.resume();
        const r = errorPage(fault.status ?? 503, "The server is temporarily unable to service the request (injected).");
        record.status = r.status;
        this.send(res, r);
        return;
      }
      if (fault.kind === "slow") await new Promise((r) => setTimeout(r, fault.delayMs ?? 1000));
    }
    let reply: Reply;
    try {
      const body = await readBody(req);
      record.bodyBytes = body.length;
      reply = await this.handle(method, path, query, req, body, record);
    } catch (err) {
      if (err instanceof HttpError) reply = errorPage(err.status, err.message);
      else reply = errorPage(500, `Internal error: ${(err as Error)?.message ?? String(err)}`);
    }
    if (fault && fault.phase === "after") {
      if (fault.kind === "hang") {
        record.status = "hang";
        return;
      }
      if (fault.kind === "drop") {
        record.status = "drop";
        req.socket.destroy();
        return;
      }
      if (fault.kind === "status") reply = errorPage(fault.status ?? 503, "The server is temporarily unable to service the request (injected).");
      if (fault.kind === "slow") await new Promise((r) => setTimeout(r, fault.delayMs ?? 1000));
    }
    record.status = reply.status;
    this.send(res, reply);
  }

  private send(res: http.ServerResponse, r: Reply): void {
    if (res.destroyed) return;
    const body = r.body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(r.body) ? r.body : Buffer.from(r.body, "utf8");
    res.writeHead(r.status, { ...r.headers, "Content-Length": String(body.length) });
    res.end(body);
  }

  private newSession(user: string): { session: Session; cookies: string[] } {
    const id = randomBytes(16).toString("hex").toUpperCase();
    const session: Session = { id, user, expires: Date.now() + this.opts.sessionTimeoutMs, csrf: randomUUID() };
    this.sessions.set(id, session);
    this.stats.sessionsCreated++;
    return {
      session,
      cookies: [
        `JSESSIONID=${id}; Path=/; HttpOnly`,
        `SESSION_EXPIRATION_TIME="${Date.now()},${this.opts.sessionTimeoutMs}"; Version=1; Path=/`,
      ],
    };
  }

  private checkBasic(header: string | undefined): TestUser | undefined {
    if (!header?.startsWith("Basic ")) return undefined;
    const decoded = Buffer.from(header.slice(6), "base64").toString("utf8");
    const i = decoded.indexOf(":");
    if (i < 0) return undefined;
    const [name, pass] = [decoded.slice(0, i), decoded.slice(i + 1)];
    const u = this.users.get(name);
    if (u && u.password === pass) return u;
    const t = this.tokens.get(name);
    if (t && t.secret === pass && t.expires > Date.now()) return this.users.get(t.user);
    return undefined;
  }

  private authenticate(req: http.IncomingMessage, record: RequestRecord): { user?: TestUser; session?: Session; cookies: string[]; basicFailed: boolean } {
    const cookie = /(?:^|;\s*)JSESSIONID=([^;]+)/.exec(req.headers.cookie ?? "")?.[1];
    if (cookie) {
      const s = this.sessions.get(cookie);
      if (s && s.expires > Date.now()) {
        s.expires = Date.now() + this.opts.sessionTimeoutMs;
        record.auth = "session";
        record.user = s.user;
        return { user: this.users.get(s.user), session: s, cookies: [], basicFailed: false };
      }
    }
    const authz = req.headers.authorization;
    if (authz) {
      const user = this.checkBasic(authz);
      if (!user) return { cookies: [], basicFailed: true };
      // XNAT opens a new HTTP session for every Basic-authenticated call.
      const { session, cookies } = this.newSession(user.login);
      record.auth = "basic";
      record.user = user.login;
      return { user, session, cookies, basicFailed: false };
    }
    return { cookies: [], basicFailed: false };
  }

  // ── Permissions ──

  private role(user: TestUser, p: Project): Role | null {
    if (user.admin) return "owner";
    if (p.owners.has(user.login)) return "owner";
    if (p.members.has(user.login)) return "member";
    if (p.collaborators.has(user.login)) return "collaborator";
    return null;
  }

  private canRead(user: TestUser, p: Project): boolean {
    return this.role(user, p) !== null || p.accessibility === "public";
  }

  private canEdit(user: TestUser, p: Project): boolean {
    const r = this.role(user, p);
    return r === "owner" || r === "member";
  }

  private project(id: string, user: TestUser, need: "read" | "edit" | "delete"): Project {
    const p = this.projects.get(id) ?? [...this.projects.values()].find((x) => x.secondaryId === id);
    if (!p) throw new HttpError(404, `Unable to find project ${id}`);
    if (!this.canRead(user, p)) {
      // assumed: private projects are invisible (404); protected ones are known to exist (403)
      if (p.accessibility === "private") throw new HttpError(404, `Unable to find project ${id}`);
      throw new HttpError(403, `User ${user.login} does not have access to project ${id}`);
    }
    if (need === "edit" && !this.canEdit(user, p)) throw new HttpError(403, `User ${user.login} does not have permission to edit data in project ${p.id}`);
    if (need === "delete" && this.role(user, p) !== "owner") throw new HttpError(403, `User ${user.login} does not have permission to delete data in project ${p.id}`);
    return p;
  }

  // ── Handlers ──

  private async handle(
    method: string,
    path: string,
    query: Record<string, string | string[]>,
    req: http.IncomingMessage,
    body: Buffer,
    record: RequestRecord,
  ): Promise<Reply> {
    const q = (k: string): string | undefined => {
      const v = query[k];
      return Array.isArray(v) ? v[0] : v;
    };
    const auth = this.authenticate(req, record);
    const withCookies = (r: Reply): Reply => (auth.cookies.length ? { ...r, headers: { ...r.headers, "Set-Cookie": auth.cookies } } : r);

    if (path === "/data/version") return errorPage(404, "The server has not found anything matching the request URI");

    // PUT /data/services/auth (form login, xnatpy)
    if (path === "/data/services/auth" && method === "PUT") {
      const form = new URLSearchParams(body.toString("utf8"));
      const u = this.users.get(form.get("username") ?? "");
      if (!u || u.password !== form.get("password")) return errorPage(401, "Login attempt failed. Please try again.");
      const { session, cookies } = this.newSession(u.login);
      return { ...text(200, session.id), headers: { "Content-Type": "text/plain;charset=UTF-8", "Set-Cookie": cookies } };
    }

    if (!auth.user) {
      const r = errorPage(401, auth.basicFailed ? "Login attempt failed. Please try again." : "Authentication required");
      return { ...r, headers: { ...r.headers, "WWW-Authenticate": 'Basic realm="XNAT"' } };
    }
    const user = auth.user;
    const session = auth.session!;

    if (this.opts.requireCsrf && record.auth === "session" && method !== "GET" && !path.startsWith("/data/JSESSION") && q("XNAT_CSRF") !== session.csrf) {
      return errorPage(403, "Invalid or missing CSRF token (XNAT_CSRF)");
    }

    if (path === "/data/JSESSION" || path === "/data/JSESSION/") {
      if (method === "POST") {
        if (record.auth === "basic") return withCookies(text(200, session.id));
        const { session: s, cookies } = this.newSession(user.login);
        return { ...text(200, s.id), headers: { "Content-Type": "text/plain;charset=UTF-8", "Set-Cookie": cookies } };
      }
      if (method === "GET") return withCookies(text(200, session.id));
      if (method === "DELETE") {
        this.sessions.delete(session.id);
        this.stats.sessionsDeleted++;
        return { status: 200, headers: { "Set-Cookie": ["JSESSIONID=; Path=/; Max-Age=0"] }, body: "" };
      }
      return errorPage(405, "Method not allowed");
    }
    if (path === "/data/auth" && method === "GET") {
      return withCookies(text(200, q("csrf") === "true" ? `User '${user.login}' is logged in; XNAT_CSRF=${session.csrf}` : `User '${user.login}' is logged in`));
    }
    if (path === "/xapi/siteConfig/buildInfo") {
      return withCookies(
        json(200, {
          version: this.opts.version,
          buildNumber: "test",
          buildDate: "Mon Jan 01 00:00:00 UTC 2024",
          sha: "0000000",
          commit: "0000000",
          tag: this.opts.version,
          branch: "release",
          timestamp: "1704067200000",
        }),
      );
    }
    // Parameters in a form body count as query parameters for the prearchive and its services (XNAT's
    // resources read body variables too: pyxnat's prearchive reset and delete post them that way).
    if (
      (method === "POST" || method === "PUT") &&
      /^application\/x-www-form-urlencoded/i.test(req.headers["content-type"] ?? "") &&
      (path.startsWith("/data/prearchive") || path.startsWith("/data/services/prearchive/") || path === "/data/services/archive")
    ) {
      const form: Record<string, string[]> = {};
      for (const [k, v] of new URLSearchParams(body.toString("utf8"))) (form[k] ??= []).push(v);
      for (const [k, v] of Object.entries(form)) if (!(k in query)) query[k] = v.length === 1 ? v[0]! : v;
    }
    if (path.startsWith("/data/services/tokens/")) return withCookies(this.tokensApi(method, path, user));
    if (path === "/data/services/import") return withCookies(await this.importService(method, query, req, body, user));
    if (path === "/data/services/archive") return withCookies(this.archiveService(method, query, user));
    if (path.startsWith("/data/services/prearchive/")) return withCookies(this.batchPrearchive(method, path, query, user));
    if (path === "/data/prearchive" || path.startsWith("/data/prearchive/")) return withCookies(this.prearchiveApi(method, path, query, user));
    if (path.startsWith("/data/")) return withCookies(this.hierarchy(method, path, query, req, body, user));
    return errorPage(404, "The server has not found anything matching the request URI");
  }

  private tokensApi(method: string, path: string, user: TestUser): Reply {
    if (method !== "GET") return errorPage(405, "Method not allowed");
    const parts = path.split("/").slice(4);
    const issue = (login: string) => {
      const now = Date.now();
      const t: Token = { alias: randomUUID(), secret: randomBytes(24).toString("base64url"), user: login, created: now, expires: now + 48 * 3600_000, id: ++this.tokenSeq };
      this.tokens.set(t.alias, t);
      return json(200, {
        alias: t.alias,
        xdatUserId: login,
        secret: t.secret,
        singleUse: false,
        estimatedExpirationTime: t.expires,
        timestamp: now,
        enabled: true,
        created: now,
        id: t.id,
        disabled: 0,
      });
    };
    if (parts[0] === "issue" && parts.length === 1) return issue(user.login);
    if (parts[0] === "issue" && parts[1] === "user" && parts[2]) {
      if (!user.admin) return errorPage(403, "Only administrators can issue tokens for other users");
      if (!this.users.has(parts[2])) return errorPage(404, `No user ${parts[2]}`);
      return issue(parts[2]);
    }
    if ((parts[0] === "validate" || parts[0] === "invalidate") && parts[1] && parts[2]) {
      const t = this.tokens.get(decodeURIComponent(parts[1]));
      const ok = t && t.secret === decodeURIComponent(parts[2]) && t.expires > Date.now();
      if (parts[0] === "validate") return json(200, ok ? { valid: t.user } : {});
      if (ok) this.tokens.delete(t.alias);
      return { status: 200, body: "" };
    }
    return errorPage(404, "Unknown token operation");
  }

  // ── Hierarchy ──

  /**
   * A ResultSet listing in format json, csv or html. Filters: a row field (wildcards `*`), `xsiType`
   * also matching the base types (xnat:subjectAssessorData, xnat:imageSessionData, …), and xml paths
   * (`xnat:subjectData/label=…`) over the row and its `more` fields. With `columns=` (archive
   * listings, as XNAT's QueryOrganizerResource): the named columns that are known, in that order —
   * aliases or xml paths, unknown ones dropped — plus ID and URI.
   */
  private listing<T extends Record<string, string>>(
    rowsIn: T[],
    query: Record<string, string | string[]>,
    title: string,
    opts: { more?: (row: T) => Record<string, string>; columns?: boolean } = {},
  ): Reply {
    const reserved = new Set(["format", "columns", "limit", "offset", "sortBy", "sortOrder", "XNAT_CSRF", "accessible", "owner", "member", "collaborator", "recent", "favorite", "req_format"]);
    const fieldsOf = (r: T): Record<string, string> => ({ ...opts.more?.(r), ...r });
    const values = (v: string | string[]) => (Array.isArray(v) ? v : [v]).flatMap((x) => x.split(","));
    let rows = rowsIn.filter((r) => {
      const all = fieldsOf(r);
      return Object.entries(query).every(([k, v]) => {
        if (reserved.has(k)) return true;
        if (k === "xsiType" && "xsiType" in all) return values(v).some((t) => xsiTypeMatches(all.xsiType!, t));
        const key = columnKey(all, k);
        return key === undefined || values(v).some((one) => wildcard(one, all[key] ?? ""));
      });
    });
    const total = rows.length;
    const offset = Number(query.offset ?? 0) || 0;
    const limit = query.limit === undefined || query.limit === "*" ? Infinity : Number(query.limit);
    rows = rows.slice(offset, offset + limit);
    const requested = (Array.isArray(query.columns) ? query.columns.join(",") : query.columns)?.split(",").filter(Boolean);
    if (opts.columns && requested?.length && requested[0] !== "DEFAULT") {
      rows = rows.map((r) => {
        const all = fieldsOf(r);
        const out: Record<string, string> = {};
        for (const c of requested) {
          const key = columnKey(all, c);
          if (key !== undefined) out[c.includes("/") && !(c in all) ? c.toLowerCase() : key] = all[key] ?? "";
        }
        if ("ID" in all && !("ID" in out)) out.ID = all.ID!;
        if ("URI" in all) out.URI = all.URI!;
        return out as T;
      });
    }
    const format = (Array.isArray(query.format) ? query.format[0] : query.format) ?? "html";
    if (format === "json") return json(200, { ResultSet: { Result: rows, totalRecords: String(total), title } });
    const cols = rows[0] ? Object.keys(rows[0]) : [];
    if (format === "csv") {
      const cell = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
      return text(200, [cols.join(","), ...rows.map((r) => cols.map((c) => cell(r[c] ?? "")).join(","))].join("\n") + "\n", "text/csv;charset=UTF-8");
    }
    if (format === "xml") {
      const x = escapeXml;
      return text(
        200,
        `<?xml version="1.0" encoding="UTF-8"?>\n<results xmlns="http://www.nrg.wustl.edu/xe"><columns>${cols.map((c) => `<column>${x(c)}</column>`).join("")}</columns><rows>${rows
          .map((r) => `<row>${cols.map((c) => `<cell>${x(r[c] ?? "")}</cell>`).join("")}</row>`)
          .join("")}</rows></results>\n`,
        "text/xml;charset=UTF-8",
      );
    }
    const html = `<html><body><table><tr>${cols.map((c) => `<th>${escapeHtml(c)}</th>`).join("")}</tr>${rows
      .map((r) => `<tr>${cols.map((c) => `<td>${escapeHtml(r[c] ?? "")}</td>`).join("")}</tr>`)
      .join("")}</table></body></html>`;
    return text(200, html, "text/html;charset=UTF-8");
  }

  private projectRow(p: Project): Record<string, string> {
    return { ID: p.id, secondary_ID: p.secondaryId, name: p.name, description: p.description, pi_firstname: "", pi_lastname: "", URI: `/data/projects/${p.id}` };
  }

  private subjectRow(s: Subject): Record<string, string> {
    return { ID: s.id, label: s.label, project: s.project, insert_date: s.insertDate, insert_user: s.insertUser, URI: `/data/subjects/${s.id}` };
  }

  private experimentRow(e: Experiment): Record<string, string> {
    return {
      ID: e.id,
      label: e.label,
      project: e.project,
      date: e.date ?? "",
      xsiType: e.xsiType,
      "xnat:subjectassessordata/id": e.id,
      insert_date: e.insertDate,
      URI: `/data/experiments/${e.id}`,
    };
  }

  /** Experiment fields a listing offers through columns= and filters beyond its default columns. */
  private experimentMore(row: Record<string, string>): Record<string, string> {
    const e = this.experiments.get(row.ID ?? "");
    if (!e) return {};
    const subject = this.subjects.get(e.subjectId);
    return {
      subject_ID: e.subjectId,
      "xnat:subjectassessordata/subject_id": e.subjectId,
      "xnat:subjectdata/label": subject?.label ?? "",
      subject_label: subject?.label ?? "",
      modality: e.modality ?? "",
      UID: e.uid ?? "",
      time: e.time ?? "",
    };
  }

  private resourceRow(r: Resource): Record<string, string> {
    let size = 0;
    for (const f of r.files.values()) size += f.size;
    return {
      xnat_abstractresource_id: String(r.id),
      label: r.label,
      element_name: "xnat:resourceCatalog",
      category: "scans",
      cat_id: "",
      cat_desc: "",
      format: r.format ?? "",
      content: r.content ?? "",
      tags: "",
      file_count: String(r.files.size),
      file_size: String(size),
    };
  }

  private fileRows(r: Resource, base: string): Array<Record<string, string>> {
    return [...r.files.values()].map((f) => ({
      Name: f.name,
      Size: String(f.size),
      URI: `${base}/resources/${r.label}/files/${f.name}`,
      collection: r.label,
      cat_ID: String(r.id),
      digest: f.digest,
      file_content: f.content ?? "",
      file_format: f.format ?? "",
      file_tags: f.tags ?? "",
    }));
  }

  private scanItem(e: Experiment, s: Scan) {
    return {
      children: [
        {
          field: "file",
          items: [...s.resources.values()].map((r) => {
            const row = this.resourceRow(r);
            return {
              children: [],
              meta: { "xsi:type": "xnat:resourceCatalog", isHistory: false },
              data_fields: { label: r.label, format: row.format, content: row.content, file_count: r.files.size, file_size: Number(row.file_size), xnat_abstractresource_id: r.id, URI: `/data/experiments/${e.id}/scans/${s.id}/resources/${r.label}` },
            };
          }),
        },
      ],
      meta: { "xsi:type": s.xsiType, isHistory: false },
      data_fields: { ID: s.id, type: s.type ?? "", series_description: s.seriesDescription ?? "", UID: s.uid ?? "", modality: s.modality ?? "", quality: s.quality, image_session_ID: e.id, xnat_imagescandata_id: Number(s.id) || 0, ...s.fields },
    };
  }

  private experimentItem(e: Experiment) {
    const data_fields: Record<string, unknown> = { ID: e.id, id: e.id, label: e.label, project: e.project, subject_ID: e.subjectId, ...e.fields };
    if (e.date) data_fields.date = e.date;
    if (e.time) data_fields.time = e.time;
    if (e.uid) data_fields.UID = e.uid;
    if (e.modality) data_fields.modality = e.modality;
    const children = [];
    if (e.scans.size) children.push({ field: "scans/scan", items: [...e.scans.values()].map((s) => this.scanItem(e, s)) });
    if (e.resources.size) {
      children.push({
        field: "resources/resource",
        items: [...e.resources.values()].map((r) => ({ children: [], meta: { "xsi:type": "xnat:resourceCatalog" }, data_fields: { label: r.label, format: r.format ?? "", file_count: r.files.size } })),
      });
    }
    return { items: [{ children, meta: { "xsi:type": e.xsiType, isHistory: false, start_date: e.insertDate }, data_fields }] };
  }

  // ── XML documents (format=xml), as XNAT writes its item documents ──

  private static readonly NS = 'xmlns:arc="http://nrg.wustl.edu/arc" xmlns:xnat="http://nrg.wustl.edu/xnat" xmlns:xdat="http://nrg.wustl.edu/security" xmlns:prov="http://www.nbirn.net/prov" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"';

  private resourcesXml(list: Iterable<Resource>, base: string, tag: string): string {
    return [...list]
      .map((r) => `<xnat:${tag} label="${escapeXml(r.label)}" URI="${escapeXml(`${base}/resources/${r.label}`)}" format="${escapeXml(r.format ?? "")}" content="${escapeXml(r.content ?? "")}" xsi:type="xnat:resourceCatalog"/>`)
      .join("");
  }

  private scanXml(e: Experiment, sc: Scan, root: boolean): string {
    const tag = root ? `xnat:${elementName(sc.xsiType)}` : "xnat:scan";
    const attrs = `ID="${escapeXml(sc.id)}" type="${escapeXml(sc.type ?? "")}"${sc.uid ? ` UID="${escapeXml(sc.uid)}"` : ""}${root ? ` ${XnatTestServer.NS}` : ` xsi:type="${escapeXml(sc.xsiType)}"`}`;
    const kids = [
      `<xnat:image_session_ID>${escapeXml(e.id)}</xnat:image_session_ID>`,
      sc.modality ? `<xnat:modality>${escapeXml(sc.modality)}</xnat:modality>` : "",
      `<xnat:quality>${escapeXml(sc.quality)}</xnat:quality>`,
      sc.seriesDescription ? `<xnat:series_description>${escapeXml(sc.seriesDescription)}</xnat:series_description>` : "",
      this.resourcesXml(sc.resources.values(), `/data/experiments/${e.id}/scans/${sc.id}`, "file"),
    ].join("");
    return `<${tag} ${attrs}>${kids}</${tag}>`;
  }

  private experimentXml(e: Experiment): string {
    const tag = `xnat:${elementName(e.xsiType)}`;
    const kids = [
      e.date ? `<xnat:date>${escapeXml(e.date)}</xnat:date>` : "",
      e.time ? `<xnat:time>${escapeXml(e.time)}</xnat:time>` : "",
      e.resources.size ? `<xnat:resources>${this.resourcesXml(e.resources.values(), `/data/experiments/${e.id}`, "resource")}</xnat:resources>` : "",
      `<xnat:subject_ID>${escapeXml(e.subjectId)}</xnat:subject_ID>`,
      e.uid ? `<xnat:UID>${escapeXml(e.uid)}</xnat:UID>` : "",
      e.modality ? `<xnat:modality>${escapeXml(e.modality)}</xnat:modality>` : "",
      e.scans.size ? `<xnat:scans>${[...e.scans.values()].map((sc) => this.scanXml(e, sc, false)).join("")}</xnat:scans>` : "",
    ].join("");
    return xmlDoc(`<${tag} ID="${escapeXml(e.id)}" project="${escapeXml(e.project)}" label="${escapeXml(e.label)}" ${XnatTestServer.NS}>${kids}</${tag}>`);
  }

  private subjectXml(sub: Subject): string {
    const res = sub.resources.size ? `<xnat:resources>${this.resourcesXml(sub.resources.values(), `/data/subjects/${sub.id}`, "resource")}</xnat:resources>` : "";
    const exps = [...this.experiments.values()].filter((e) => e.subjectId === sub.id);
    const ex = exps.length
      ? `<xnat:experiments>${exps.map((e) => `<xnat:experiment ID="${escapeXml(e.id)}" project="${escapeXml(e.project)}" label="${escapeXml(e.label)}" xsi:type="${escapeXml(e.xsiType)}"/>`).join("")}</xnat:experiments>`
      : "";
    return xmlDoc(`<xnat:Subject ID="${escapeXml(sub.id)}" project="${escapeXml(sub.project)}" label="${escapeXml(sub.label)}" ${XnatTestServer.NS}>${res}${ex}</xnat:Subject>`);
  }

  private projectXml(p: Project): string {
    const res = p.resources.size ? `<xnat:resources>${this.resourcesXml(p.resources.values(), `/data/projects/${p.id}`, "resource")}</xnat:resources>` : "";
    return xmlDoc(
      `<xnat:Project ID="${escapeXml(p.id)}" secondary_ID="${escapeXml(p.secondaryId)}" ${XnatTestServer.NS}><xnat:name>${escapeXml(p.name)}</xnat:name><xnat:description>${escapeXml(p.description)}</xnat:description>${res}</xnat:Project>`,
    );
  }

  private findSubject(project: string, key: string): Subject | undefined {
    const byId = this.subjects.get(key);
    if (byId && byId.project === project) return byId;
    return [...this.subjects.values()].find((s) => s.project === project && s.label === key);
  }

  private findExperiment(project: string | undefined, key: string, subject?: Subject): Experiment | undefined {
    const byId = this.experiments.get(key);
    if (byId && (!project || byId.project === project) && (!subject || byId.subjectId === subject.id)) return byId;
    return [...this.experiments.values()].find((e) => (!project || e.project === project) && e.label === key && (!subject || e.subjectId === subject.id));
  }

  private createSubject(project: string, label: string, user: string): Subject {
    const s: Subject = { id: `XNAT_S${pad(++this.subjectSeq, 5)}`, label, project, insertDate: xnatDateTime(new Date()), insertUser: user, fields: {}, resources: new Map() };
    this.subjects.set(s.id, s);
    return s;
  }

  private newResource(label: string, format?: string, content?: string): Resource {
    return { id: ++this.resourceSeq, label, format, content, files: new Map() };
  }

  private storeFile(name: string, data: Buffer, meta: { content?: string; format?: string; tags?: string } = {}): StoredFile {
    return { name, size: data.length, digest: createHash("md5").update(data).digest("hex"), data: this.opts.keepFileData ? data : undefined, ...meta };
  }

  private hierarchy(method: string, path: string, query: Record<string, string | string[]>, req: http.IncomingMessage, body: Buffer, user: TestUser): Reply {
    const q = (k: string): string | undefined => {
      const v = query[k];
      return Array.isArray(v) ? v[0] : v;
    };
    const segs = path.split("/").slice(2).map((s) => decodeURIComponent(s));
    if (segs[segs.length - 1] === "") segs.pop();
    const fieldsFrom = (xsi: string): Record<string, string> => {
      const out: Record<string, string> = {};
      for (const [k, v] of Object.entries(query)) {
        const val = Array.isArray(v) ? v[0]! : v;
        if (k.startsWith(`${xsi}/`)) out[k.slice(xsi.length + 1)] = val;
      }
      return out;
    };

    // /data/projects
    if (segs[0] === "projects" && segs.length === 1) {
      if (method === "GET") {
        const filter = (["owner", "member", "collaborator", "accessible"] as const).find((f) => q(f) === "true");
        const list = [...this.projects.values()].filter((p) => {
          const r = this.role(user, p);
          if (filter === "owner") return r === "owner";
          if (filter === "member") return r === "member";
          if (filter === "collaborator") return r === "collaborator";
          if (filter === "accessible") return this.canRead(user, p);
          return this.canRead(user, p) || p.accessibility === "protected";
        });
        return this.listing(list.map((p) => this.projectRow(p)), query, "Projects", { columns: true });
      }
      if (method === "POST") {
        const xml = body.toString("utf8");
        const id = /\bID="([^"]+)"/.exec(xml)?.[1];
        if (!id) return errorPage(400, "Unable to parse project document: missing ID");
        if (this.projects.has(id)) return errorPage(409, `Project ${id} already exists`);
        this.addProject(id, { owners: [user.login], name: /\bname="([^"]+)"/.exec(xml)?.[1] ?? /<xnat:name>([^<]*)</.exec(xml)?.[1] });
        return text(201, id);
      }
      return errorPage(405, "Method not allowed");
    }

    // /data/subjects[?label=] and /data/experiments[?label=] across readable projects
    if (segs[0] === "subjects" && segs.length === 1 && method === "GET") {
      const list = [...this.subjects.values()].filter((s) => {
        const p = this.projects.get(s.project);
        return p && this.canRead(user, p);
      });
      return this.listing(list.map((s) => this.subjectRow(s)), query, "Subjects", { columns: true });
    }
    if (segs[0] === "experiments" && segs.length === 1 && method === "GET") {
      const list = [...this.experiments.values()].filter((e) => {
        const p = this.projects.get(e.project);
        return p && this.canRead(user, p);
      });
      return this.listing(list.map((e) => this.experimentRow(e)), query, "Experiments", { columns: true, more: (r) => this.experimentMore(r) });
    }

    // Resolve the object path.
    let i = 0;
    let project: Project | undefined;
    let subject: Subject | undefined;
    let subjectKey: string | undefined;
    let experiment: Experiment | undefined;
    let experimentKey: string | undefined;
    let level: "project" | "subjects" | "subject" | "experiments" | "experiment" = "project";
    const need = method === "GET" ? "read" : method === "DELETE" ? "delete" : "edit";
    if (segs[0] === "projects") {
      const pid = segs[1]!;
      if (segs.length === 2) return this.projectObject(method, pid, query, user);
      if (segs[2] === "accessibility" || segs[2] === "prearchive_code" || segs[2] === "users") return this.projectAttribute(method, pid, segs.slice(2), user);
      if (segs[2] === "resources" || segs[2] === "files") {
        const p = this.project(pid, user, "read");
        return this.resources(method, segs.slice(2), { resources: p.resources, base: `/data/projects/${p.id}`, zipRoot: p.id, project: p }, query, req, body, user);
      }
      project = this.project(pid, user, segs.length <= 3 && method !== "GET" ? need : "read");
      i = 2;
      if (segs[i] === "subjects") {
        if (segs.length === i + 1) level = "subjects";
        else {
          subjectKey = segs[i + 1]!;
          subject = this.findSubject(project.id, subjectKey);
          level = "subject";
        }
        i += 2;
      }
      if (segs[i] === "experiments") {
        if (segs.length === i + 1) level = "experiments";
        else {
          experimentKey = segs[i + 1]!;
          experiment = this.findExperiment(project.id, experimentKey, subject);
          level = "experiment";
        }
        i += 2;
      }
    } else if (segs[0] === "subjects" && segs[1]) {
      subject = this.subjects.get(segs[1]);
      if (!subject) return errorPage(404, `Unable to find subject ${segs[1]}`);
      project = this.project(subject.project, user, "read");
      subjectKey = subject.id;
      level = "subject";
      i = 2;
      if (segs[i] === "experiments") {
        level = segs.length === i + 1 ? "experiments" : "experiment";
        if (segs[i + 1]) {
          experimentKey = segs[i + 1];
          experiment = this.findExperiment(project.id, experimentKey!, subject);
        }
        i += 2;
      }
    } else if (segs[0] === "experiments" && segs[1]) {
      experiment = this.experiments.get(segs[1]);
      if (!experiment) return errorPage(404, `Unable to find experiment ${segs[1]}`);
      project = this.project(experiment.project, user, "read");
      experimentKey = experiment.id;
      level = "experiment";
      i = 2;
    } else {
      return errorPage(404, "The server has not found anything matching the request URI");
    }
    const rest = segs.slice(i);

    if (level === "subjects") {
      if (method !== "GET") return errorPage(405, "Method not allowed");
      return this.listing([...this.subjects.values()].filter((s) => s.project === project!.id).map((s) => this.subjectRow(s)), query, "Subjects", { columns: true });
    }
    if (level === "subject" && rest.length === 0) {
      if (method === "GET") {
        if (!subject) return errorPage(404, `Unable to find subject ${subjectKey}`);
        if (q("format") === "xml") return text(200, this.subjectXml(subject), "text/xml;charset=UTF-8");
        const exps = [...this.experiments.values()].filter((e) => e.subjectId === subject!.id);
        return json(200, {
          items: [
            {
              children: exps.length ? [{ field: "experiments/experiment", items: exps.map((e) => this.experimentItem(e).items[0]) }] : [],
              meta: { "xsi:type": "xnat:subjectData", isHistory: false },
              data_fields: { ID: subject.id, label: subject.label, project: subject.project, ...subject.fields },
            },
          ],
        });
      }
      if (method === "PUT") {
        this.project(project.id, user, "edit");
        const xsi = q("xsiType");
        if (xsi && xsi !== "xnat:subjectData") return errorPage(422, `Unable to create subject with document type ${xsi}`);
        const created = !subject;
        subject ??= this.createSubject(project.id, cleanLabel(subjectKey!), user.login);
        Object.assign(subject.fields, fieldsFrom("xnat:subjectData"));
        if (q("group")) subject.fields.group = q("group")!;
        return text(created ? 201 : 200, subject.id);
      }
      if (method === "DELETE") {
        if (!subject) return errorPage(404, `Unable to find subject ${subjectKey}`);
        this.project(project.id, user, "delete");
        for (const e of [...this.experiments.values()]) if (e.subjectId === subject.id) this.experiments.delete(e.id);
        this.subjects.delete(subject.id);
        return { status: 200, body: "" };
      }
      return errorPage(405, "Method not allowed");
    }
    if (level === "subject" && rest.length) {
      if (rest[0] !== "resources" && rest[0] !== "files") return errorPage(404, "The server has not found anything matching the request URI");
      if (!subject) return errorPage(404, `Unable to find subject ${subjectKey}`);
      return this.resources(method, rest, { resources: subject.resources, base: `/data/subjects/${subject.id}`, zipRoot: subject.label, project }, query, req, body, user);
    }
    if (level === "experiments") {
      if (method !== "GET") return errorPage(405, "Method not allowed");
      if (subjectKey && !subject) return errorPage(404, `Unable to find subject ${subjectKey}`);
      const list = [...this.experiments.values()].filter((e) => e.project === project!.id && (!subject || e.subjectId === subject.id));
      return this.listing(list.map((e) => this.experimentRow(e)), query, "Experiments", { columns: true, more: (r) => this.experimentMore(r) });
    }
    if (level === "project") return errorPage(404, "The server has not found anything matching the request URI");

    // level === "experiment"
    if (rest.length === 0) {
      if (method === "GET") {
        if (!experiment) return errorPage(404, `Unable to find experiment ${experimentKey}`);
        if (q("format") === "xml") return text(200, this.experimentXml(experiment), "text/xml;charset=UTF-8");
        return json(200, this.experimentItem(experiment));
      }
      if (method === "PUT") {
        this.project(project.id, user, "edit");
        const xsi = q("xsiType");
        if (!experiment) {
          if (!subjectKey) return errorPage(400, "Experiments must be created below a subject");
          if (!xsi) return errorPage(400, "Unable to create experiment: xsiType is required");
          if (!/SessionData$|AssessorData$|xnat:/.test(xsi)) return errorPage(422, `Unknown document type ${xsi}`);
          subject ??= this.createSubject(project.id, cleanLabel(subjectKey), user.login);
          experiment = {
            id: `XNAT_E${pad(++this.experimentSeq, 5)}`,
            label: cleanLabel(experimentKey!),
            project: project.id,
            subjectId: subject.id,
            xsiType: xsi,
            insertDate: xnatDateTime(new Date()),
            fields: {},
            scans: new Map(),
            resources: new Map(),
          };
          this.experiments.set(experiment.id, experiment);
          this.applyExperimentFields(experiment, query);
          return text(201, experiment.id);
        }
        if (xsi && xsi !== experiment.xsiType) return errorPage(422, `Experiment ${experiment.label} is a ${experiment.xsiType}, not ${xsi}`);
        this.applyExperimentFields(experiment, query);
        return text(200, experiment.id);
      }
      if (method === "DELETE") {
        if (!experiment) return errorPage(404, `Unable to find experiment ${experimentKey}`);
        this.project(project.id, user, "delete");
        this.experiments.delete(experiment.id);
        return { status: 200, body: "" };
      }
      return errorPage(405, "Method not allowed");
    }
    if (!experiment) return errorPage(404, `Unable to find experiment ${experimentKey}`);
    const e = experiment;
    const expBase = `/data/experiments/${e.id}`;

    // scans
    let scan: Scan | undefined;
    let scanKey: string | undefined;
    let j = 0;
    if (rest[0] === "scans") {
      if (rest.length === 1) {
        if (method !== "GET") return errorPage(405, "Method not allowed");
        const rowsOut = [...e.scans.values()].map((s) => ({
          xsiType: s.xsiType,
          xnat_imagescandata_id: s.id,
          ID: s.id,
          type: s.type ?? "",
          quality: s.quality,
          series_description: s.seriesDescription ?? "",
          note: "",
          URI: `${expBase}/scans/${s.id}`,
        }));
        return this.listing(rowsOut, query, "Scans", { columns: true });
      }
      scanKey = rest[1]!;
      scan = e.scans.get(scanKey);
      j = 2;
      if (rest.length === 2) {
        if (method === "GET") {
          if (!scan) return errorPage(404, `Unable to find scan ${scanKey}`);
          if (q("format") === "xml") return text(200, xmlDoc(this.scanXml(e, scan, true)), "text/xml;charset=UTF-8");
          return json(200, { items: [this.scanItem(e, scan)] });
        }
        if (method === "PUT") {
          this.project(project.id, user, "edit");
          const xsi = q("xsiType") ?? scan?.xsiType;
          if (!xsi) return errorPage(400, "Unable to create scan: xsiType is required");
          const created = !scan;
          scan ??= { id: scanKey, xsiType: xsi, quality: "usable", fields: {}, resources: new Map() };
          e.scans.set(scan.id, scan);
          const f = fieldsFrom(xsi);
          if (f.type !== undefined) scan.type = f.type;
          if (f.series_description !== undefined) scan.seriesDescription = f.series_description;
          if (f.quality !== undefined) scan.quality = f.quality;
          for (const [k, v] of Object.entries(f)) if (!["type", "series_description", "quality"].includes(k)) scan.fields[k] = v;
          return text(created ? 201 : 200, scan.id);
        }
        if (method === "DELETE") {
          if (!scan) return errorPage(404, `Unable to find scan ${scanKey}`);
          this.project(project.id, user, "delete");
          e.scans.delete(scan.id);
          return { status: 200, body: "" };
        }
        return errorPage(405, "Method not allowed");
      }
      if (!scan) return errorPage(404, `Unable to find scan ${scanKey}`);
    }
    return this.resources(
      method,
      rest.slice(j),
      {
        resources: scan ? scan.resources : e.resources,
        base: scan ? `${expBase}/scans/${scan.id}` : expBase,
        zipRoot: scan ? `${e.label}/scans/${scan.id}${scan.type ? `-${scan.type.replace(/[^A-Za-z0-9_-]/g, "_")}` : ""}` : e.label,
        project,
        scan: !!scan,
      },
      query,
      req,
      body,
      user,
    );
  }

  /**
   * Resources and files of one holder (project, subject, experiment or scan): …/resources,
   * …/resources/{label}, …/resources/{label}/files[/{name}], and for scans …/files. A files
   * collection GET with format=zip answers a zip whose entries are `<root>/resources/<label>/files/<name>`
   * (XNAT's layout, which pyxnat's Resource.get unpacks).
   */
  private resources(
    method: string,
    r2: string[],
    h: { resources: Map<string, Resource>; base: string; zipRoot: string; project: Project; scan?: boolean },
    query: Record<string, string | string[]>,
    req: http.IncomingMessage,
    body: Buffer,
    user: TestUser,
  ): Reply {
    const q = (k: string): string | undefined => {
      const v = query[k];
      return Array.isArray(v) ? v[0] : v;
    };
    const project = h.project;
    const holder = h.resources;
    const holderBase = h.base;
    const zipOf = (list: Resource[]) =>
      ({
        status: 200,
        headers: { "Content-Type": "application/zip" },
        body: storedZip(list.flatMap((r) => [...r.files.values()].map((f) => ({ name: `${h.zipRoot}/resources/${r.label}/files/${f.name}`, data: f.data ?? Buffer.alloc(0) })))),
      }) satisfies Reply;
    // …/files: every file of every resource of the holder
    if (r2[0] === "files" && r2.length === 1) {
      if (method !== "GET") return errorPage(405, "Method not allowed");
      if (q("format") === "zip") return zipOf([...holder.values()]);
      return this.listing([...holder.values()].flatMap((r) => this.fileRows(r, holderBase)), query, "Files");
    }
    if (r2[0] !== "resources") return errorPage(404, "The server has not found anything matching the request URI");
    if (r2.length === 1) {
      if (method !== "GET") return errorPage(405, "Method not allowed");
      return this.listing([...holder.values()].map((r) => this.resourceRow(r)), query, "Resources");
    }
    const resKey = r2[1]!;
    let resource = holder.get(resKey) ?? [...holder.values()].find((r) => String(r.id) === resKey);
    if (r2.length === 2) {
      if (method === "GET") return resource ? json(200, { items: [{ children: [], meta: { "xsi:type": "xnat:resourceCatalog" }, data_fields: { ...this.resourceRow(resource) } }] }) : errorPage(404, `Unable to find resource ${resKey}`);
      if (method === "PUT") {
        this.project(project.id, user, "edit");
        const created = !resource;
        resource ??= this.newResource(resKey);
        if (q("format")) resource.format = q("format");
        if (q("content")) resource.content = q("content");
        holder.set(resource.label, resource);
        return text(created ? 201 : 200, String(resource.id));
      }
      if (method === "DELETE") {
        if (!resource) return errorPage(404, `Unable to find resource ${resKey}`);
        this.project(project.id, user, "delete");
        holder.delete(resource.label);
        return { status: 200, body: "" };
      }
      return errorPage(405, "Method not allowed");
    }
    if (r2[2] !== "files") return errorPage(404, "The server has not found anything matching the request URI");
    const fileName = r2.slice(3).join("/");
    if (!fileName) {
      if (method === "GET") {
        if (!resource) return errorPage(404, `Unable to find resource ${resKey}`);
        if (q("format") === "zip") return zipOf([resource]);
        return this.listing(this.fileRows(resource, holderBase), query, "Files");
      }
      if (method === "POST") {
        this.project(project.id, user, "edit");
        const ct = req.headers["content-type"] ?? "";
        if (!/^multipart\/form-data/i.test(ct)) return errorPage(400, "POST to a files collection requires multipart/form-data");
        if (q("inbody") === "true") return errorPage(406, "In-body File posts must include the file directly as the body of the message (not as part of multi-part form data).");
        resource ??= this.newResource(resKey);
        holder.set(resource.label, resource);
        const duplicates: string[] = [];
        for (const p of parseMultipart(body, ct)) {
          if (!p.filename) continue;
          if (resource.files.has(p.filename) && q("overwrite") !== "true") duplicates.push(p.filename);
          else resource.files.set(p.filename, this.storeFile(p.filename, p.data));
        }
        return duplicates.length ? json(200, { duplicates }) : { status: 200, body: "" };
      }
      return errorPage(405, "Method not allowed");
    }
    if (method === "GET") {
      const f = resource?.files.get(fileName);
      if (!f) return errorPage(404, `Unable to find file ${fileName}`);
      if (!f.data) return errorPage(500, "File content not kept by this test server (keepFileData: false)");
      return { status: 200, headers: { "Content-Type": "application/octet-stream" }, body: f.data };
    }
    if (method === "PUT" || method === "POST") {
      this.project(project.id, user, "edit");
      const ct = req.headers["content-type"] ?? "";
      const multipart = /^multipart\/form-data/i.test(ct);
      if (multipart && q("inbody") === "true") return errorPage(406, "In-body File posts must include the file directly as the body of the message (not as part of multi-part form data).");
      const data = multipart ? (parseMultipart(body, ct).find((p) => p.filename)?.data ?? Buffer.alloc(0)) : body;
      resource ??= this.newResource(resKey);
      holder.set(resource.label, resource);
      if (q("extract") === "true" && formatOf(fileName)) {
        for (const en of expand(formatOf(fileName)!, data)) resource.files.set(en.name, this.storeFile(en.name, en.data));
        return { status: 200, body: "" };
      }
      // FileList: 200 whether created or replaced; an existing name without overwrite=true keeps the
      // old file and is named in a {"duplicates": [...]} body (never 201, never 409).
      if (resource.files.has(fileName) && q("overwrite") !== "true") return json(200, { duplicates: [fileName] });
      resource.files.set(fileName, this.storeFile(fileName, data, { content: q("content"), format: q("format"), tags: q("tags") }));
      return { status: 200, body: "" };
    }
    if (method === "DELETE") {
      if (!resource?.files.has(fileName)) return errorPage(404, `Unable to find file ${fileName}`);
      this.project(project.id, user, "delete");
      resource.files.delete(fileName);
      return { status: 200, body: "" };
    }
    return errorPage(405, "Method not allowed");
  }

  private applyExperimentFields(e: Experiment, query: Record<string, string | string[]>): void {
    for (const [k, v] of Object.entries(query)) {
      const val = Array.isArray(v) ? v[0]! : v;
      if (!k.startsWith(`${e.xsiType}/`)) continue;
      const field = k.slice(e.xsiType.length + 1);
      if (field === "date") e.date = val;
      else if (field === "time") e.time = val;
      else e.fields[field] = val;
    }
  }

  private projectObject(method: string, pid: string, query: Record<string, string | string[]>, user: TestUser): Reply {
    const q = (k: string) => {
      const v = query[k];
      return Array.isArray(v) ? v[0] : v;
    };
    if (method === "GET") {
      const p = this.project(pid, user, "read");
      if (q("format") === "xml") return text(200, this.projectXml(p), "text/xml;charset=UTF-8");
      return json(200, {
        items: [{ children: [], meta: { "xsi:type": "xnat:projectData", isHistory: false }, data_fields: { ID: p.id, secondary_ID: p.secondaryId, name: p.name, description: p.description } }],
      });
    }
    if (method === "PUT") {
      const existing = this.projects.get(pid);
      if (existing) {
        if (this.role(user, existing) !== "owner") throw new HttpError(403, `User ${user.login} cannot modify project ${pid}`);
        existing.name = q("xnat:projectData/name") ?? q("name") ?? existing.name;
        existing.secondaryId = q("xnat:projectData/secondary_ID") ?? q("secondary_ID") ?? existing.secondaryId;
        existing.description = q("xnat:projectData/description") ?? q("description") ?? existing.description;
        return text(200, existing.id);
      }
      if (!/^[A-Za-z0-9_-]{1,64}$/.test(pid)) return errorPage(400, `Invalid project ID ${pid}`);
      this.addProject(pid, { owners: [user.login], name: q("xnat:projectData/name") ?? q("name") ?? pid });
      const p = this.projects.get(pid)!;
      p.secondaryId = q("xnat:projectData/secondary_ID") ?? q("secondary_ID") ?? pid;
      p.description = q("xnat:projectData/description") ?? q("description") ?? "";
      return text(201, pid);
    }
    if (method === "DELETE") {
      const p = this.project(pid, user, "delete");
      this.projects.delete(p.id);
      return { status: 200, body: "" };
    }
    return errorPage(405, "Method not allowed");
  }

  private projectAttribute(method: string, pid: string, rest: string[], user: TestUser): Reply {
    const p = this.project(pid, user, "read");
    if (rest[0] === "accessibility") {
      if (method === "GET" && rest.length === 1) return text(200, p.accessibility);
      if (method === "PUT" && rest[1]) {
        if (this.role(user, p) !== "owner") throw new HttpError(403, `User ${user.login} cannot modify project ${pid}`);
        const v = rest[1].toLowerCase();
        if (v !== "public" && v !== "protected" && v !== "private") return errorPage(400, `Invalid accessibility ${rest[1]}`);
        p.accessibility = v;
        return text(200, v);
      }
    }
    if (rest[0] === "prearchive_code") {
      if (method === "GET" && rest.length === 1) return text(200, String(p.prearchiveCode));
      if (method === "PUT" && rest[1]) {
        if (this.role(user, p) !== "owner") throw new HttpError(403, `User ${user.login} cannot modify project ${pid}`);
        const code = Number(rest[1]);
        if (![0, 4, 5].includes(code)) return errorPage(400, `Invalid prearchive code ${rest[1]}`);
        p.prearchiveCode = code;
        return text(200, String(code));
      }
    }
    if (rest[0] === "users") {
      if (method === "GET" && rest.length === 1) {
        if (this.role(user, p) === null) throw new HttpError(403, "Only project members may list its users");
        const rowsOut: Array<Record<string, string>> = [];
        for (const [group, set, display] of [
          ["owner", p.owners, "Owners"],
          ["member", p.members, "Members"],
          ["collab", p.collaborators, "Collaborators"],
        ] as const) {
          for (const login of set) {
            const u = this.users.get(login);
            rowsOut.push({ GROUP_ID: `${p.id}_${group}`, displayname: display, login, firstname: u?.firstname ?? "", lastname: u?.lastname ?? "", email: u?.email ?? "" });
          }
        }
        return this.listing(rowsOut, { format: "json" }, "Users");
      }
      if ((method === "PUT" || method === "DELETE") && rest[1] && rest[2]) {
        if (this.role(user, p) !== "owner") throw new HttpError(403, `User ${user.login} cannot manage users of project ${pid}`);
        const sets: Record<string, Set<string>> = { Owners: p.owners, Members: p.members, Collaborators: p.collaborators };
        const set = sets[rest[1]];
        if (!set) return errorPage(404, `Unknown group ${rest[1]}`);
        const target = [...this.users.values()].find((u) => u.login === rest[2] || u.email === rest[2]);
        if (!target) return errorPage(404, `Unknown user ${rest[2]}`);
        for (const s of Object.values(sets)) s.delete(target.login);
        if (method === "PUT") set.add(target.login);
        return { status: 200, body: "" };
      }
    }
    return errorPage(405, "Method not allowed");
  }

  // ── Import service ──

  private async importService(method: string, query: Record<string, string | string[]>, req: http.IncomingMessage, body: Buffer, user: TestUser): Promise<Reply> {
    if (method !== "POST") return errorPage(405, "The method specified in the request is not allowed for the resource identified by the request URI");
    this.stats.imports++;
    const params: Record<string, string> = {};
    for (const [k, v] of Object.entries(query)) params[k] = Array.isArray(v) ? v[0]! : v;
    let ct = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
    let fileName: string | undefined;
    let data: Buffer | undefined = body.length ? body : undefined;
    if (ct === "multipart/form-data") {
      if (params.inbody === "true") return errorPage(406, "In-body File posts must include the file directly as the body of the message (not as part of multi-part form data).");
      const parts = parseMultipart(body, req.headers["content-type"]!);
      const files = parts.filter((p) => p.filename !== undefined);
      if (files.length > 1) return errorPage(400, "Importer is limited to one uploaded resource at a time.");
      for (const p of parts) if (p.filename === undefined) params[p.name] = p.data.toString("utf8");
      data = files[0]?.data;
      fileName = files[0]?.filename;
      ct = (files[0]?.contentType ?? "").toLowerCase();
    }
    let handler = params["import-handler"];
    if (!handler) handler = ct === "application/dicom" ? "gradual-DICOM" : "DICOM-zip"; // assumed default: DICOM-zip (newest wiki)
    if (!["DICOM-zip", "gradual-DICOM", "SI", "XAR", "inbox"].includes(handler)) return errorPage(404, `No import handler found for ${handler}`);
    if (handler !== "DICOM-zip" && handler !== "gradual-DICOM") return errorPage(400, `Import handler ${handler} is not supported by this test server`);
    if (params.src) return errorPage(404, "Unknown src file.");
    if (!data || data.length === 0) return errorPage(400, "Unable to identify upload format.");

    // dest: merged into the parameters; any dest commits, an /archive dest auto-archives
    const dest = params.dest;
    let autoArchive = ["true"].includes(params.autoArchive ?? params["auto-archive"] ?? params.AA ?? "");
    if (dest) {
      const m = /^\/(archive|prearchive)(?:\/projects\/([^/]+)(?:\/subjects\/([^/]+)(?:\/experiments\/([^/]+))?)?)?\/?$/.exec(dest);
      if (!m) return errorPage(400, `Invalid destination ${dest}`);
      if (m[2]) params.PROJECT_ID ??= decodeURIComponent(m[2]);
      if (m[3]) params.SUBJECT_ID ??= decodeURIComponent(m[3]);
      if (m[4]) {
        const e = this.experiments.get(decodeURIComponent(m[4]));
        params.EXPT_LABEL ??= e ? e.label : decodeURIComponent(m[4]);
      }
      if (m[1] === "archive") autoArchive = true;
    }
    const ignoreUnparsable = params["Ignore-Unparsable"] === "true" || Boolean(dest);

    let entries: Entry[];
    if (handler === "gradual-DICOM") entries = [{ name: fileName ?? "upload.dcm", data }];
    else {
      const format = (fileName && formatOf(fileName)) ?? (ct === "application/zip" ? "zip" : ct === "application/x-tar" ? "tar" : ct === "application/x-gzip" || ct === "application/gzip" ? "tgz" : undefined);
      if (!format) return errorPage(400, `Unsupported format: unable to identify the archive type of the upload (${ct || "no content type"}); send application/zip, application/x-tar or application/x-gzip`);
      entries = expand(format, data);
    }

    // Parse every entry; unparsable ones fail the request (files before stay in the prearchive) unless ignored.
    const instances: Instance[] = [];
    let failure: HttpError | undefined;
    for (const en of entries) {
      try {
        instances.push(parseDicom(en.name, en.data));
      } catch (err) {
        const he = err instanceof HttpError ? err : new HttpError(400, String(err));
        if (ignoreUnparsable && !/contains no SOP/.test(he.message)) continue;
        failure = he;
        break;
      }
    }

    const byStudy = new Map<string, Instance[]>();
    for (const inst of instances) {
      const list = byStudy.get(inst.studyUid) ?? [];
      list.push(inst);
      byStudy.set(inst.studyUid, list);
    }
    const uris: string[] = [];
    let archiveFailures = 0;
    for (const [studyUid, list] of byStudy) {
      const f = list[0]!;
      const { project, explicitHonoured } = this.resolveProject(params.project ?? params.PROJECT_ID, f, user);
      const subject = cleanLabel(params.subject ?? params.SUBJECT_ID ?? containedAssignment(f.patientComments, "Subject") ?? containedAssignment(f.studyComments, "Subject") ?? f.patientName ?? "") || "unknown";
      const label = cleanLabel(params.session ?? params.EXPT_LABEL ?? containedAssignment(f.patientComments, "Session") ?? containedAssignment(f.studyComments, "Session") ?? f.patientId ?? "") || "dicom_upload";
      let prearc: PrearcSession | undefined;
      if (handler === "gradual-DICOM") {
        prearc = this.prearchive.find((s) => s.project === project && s.tag === studyUid && s.status === "RECEIVING");
      }
      if (!prearc) {
        const now = new Date();
        let ts = prearcTimestamp(now);
        while (ts <= this.lastTimestamp) ts = prearcTimestamp(new Date(now.getTime() + (Number(ts.slice(-3)) - now.getMilliseconds() + 1)));
        this.lastTimestamp = ts;
        const projectRec = this.projects.get(project);
        prearc = {
          project,
          timestamp: ts,
          folder: label,
          name: label,
          subject,
          status: handler === "gradual-DICOM" && !dest ? "RECEIVING" : "READY",
          tag: studyUid,
          uploaded: now,
          lastmod: now,
          scanDate: f.studyDate ? `${f.studyDate.slice(0, 4)}-${f.studyDate.slice(4, 6)}-${f.studyDate.slice(6, 8)}` : "",
          scanTime: f.studyTime ? `${f.studyTime.slice(0, 2)}:${f.studyTime.slice(2, 4)}:${f.studyTime.slice(4, 6)}` : "",
          autoarchive: autoArchive || (projectRec && projectRec.prearchiveCode !== 0) ? "AutoArchive" : "Manual",
          preventAnon: params.prevent_anon === "true",
          preventAutoCommit: params.prevent_auto_commit === "true",
          source: params.SOURCE ?? "",
          visit: params.VISIT ?? "",
          protocol: params.PROTOCOL ?? "",
          timezone: params.TIMEZONE ?? "",
          modality: f.modality,
          uploader: user.login,
          locked: false,
          scans: new Map(),
        };
        this.prearchive.push(prearc);
      }
      for (const inst of list) this.addToPrearc(prearc, inst, params.rename === "true");
      prearc.lastmod = new Date();

      const projectRec = this.projects.get(project);
      const wantsArchive =
        !failure &&
        project !== "Unassigned" &&
        !prearc.preventAutoCommit &&
        ((autoArchive && explicitHonoured) || (projectRec !== undefined && projectRec.prearchiveCode !== 0));
      if (wantsArchive) {
        const overwrite = params.overwrite ?? (projectRec?.prearchiveCode === 5 ? "delete" : "none");
        const r = this.archiveSession(prearc, { overwrite }, user);
        if (r.ok) uris.push(`/data${r.uri}`);
        else archiveFailures++;
      } else {
        uris.push(`/data/prearchive/projects/${prearc.project}/${prearc.timestamp}/${prearc.folder}`);
      }
    }
    if (failure) return errorPage(failure.status, failure.message);
    if (archiveFailures) return errorPage(400, `Failed to archive ${archiveFailures} of ${byStudy.size} session(s)`);
    return uriList(200, uris);
  }

  /** §4.4: the explicit project if the user may create there, else DICOM rules, else Unassigned. */
  private resolveProject(explicit: string | undefined, f: Instance, user: TestUser): { project: string; explicitHonoured: boolean } {
    const writable = (id: string | undefined): Project | undefined => {
      if (!id) return undefined;
      const p = this.projects.get(id) ?? [...this.projects.values()].find((x) => x.secondaryId === id);
      return p && this.canEdit(user, p) ? p : undefined;
    };
    const p = writable(explicit);
    if (p) return { project: p.id, explicitHonoured: true };
    // Silent fallback (XNAT only logs "storage request specified project …").
    const candidates = [
      containedAssignment(f.patientComments, "Project"),
      containedAssignment(f.studyComments, "Project"),
      containedAssignment(f.additionalPatientHistory, "Project"),
      f.studyDescription,
      f.accessionNumber,
    ];
    for (const c of candidates) {
      const w = writable(c?.trim());
      if (w) return { project: w.id, explicitHonoured: false };
    }
    return { project: "Unassigned", explicitHonoured: false };
  }

  /**
   * GradualDicomImporter.getSafeFile: the upload's own name (Files.toFileNameChars) unless
   * rename=true, the name is not a valid file name, or a different SOP instance already holds it
   * (then the SOP-hash namer's name); the same SOP instance under that name is overwritten.
   */
  private addToPrearc(prearc: PrearcSession, inst: Instance, rename: boolean): void {
    let scan = [...prearc.scans.values()].find((s) => s.uid === inst.seriesUid);
    if (!scan) {
      let id = inst.seriesNumber || String(prearc.scans.size + 1);
      while (prearc.scans.has(id)) id = `${inst.seriesNumber || "0"}-${prearc.scans.size + 1}`;
      scan = { id, uid: inst.seriesUid, seriesDescription: inst.seriesDescription, modality: inst.modality, files: new Map() };
      prearc.scans.set(id, scan);
    }
    const valname = inst.entryName.replace(/[^\w.-]/g, "_");
    let name = valname;
    const held = scan.files.get(valname);
    if (rename || !/^[\w.-]+$/.test(valname) || (held && held.sopInstance !== inst.sopInstance)) name = archiveFileName(inst);
    const data = this.opts.rewriteDicom ? rewriteLikeDcm4che2(inst.data, { decompress: this.opts.decompress }).data : inst.data;
    scan.files.set(name, { ...this.storeFile(name, data), sopInstance: inst.sopInstance });
  }

  /** Moves a prearchive session into the archive: create or merge by overwrite mode. */
  private archiveSession(prearc: PrearcSession, opts: { overwrite?: string; project?: string; subject?: string; label?: string }, user: TestUser): { ok: true; uri: string } | { ok: false; status: number; message: string } {
    const projectId = opts.project ?? prearc.project;
    if (projectId === "Unassigned") return { ok: false, status: 400, message: "Cannot archive sessions from the Unassigned folder." };
    const project = this.projects.get(projectId);
    if (!project) return { ok: false, status: 404, message: `Unable to find project ${projectId}` };
    if (!this.canEdit(user, project)) return { ok: false, status: 403, message: `User ${user.login} cannot archive into project ${projectId}` };
    const mode = (opts.overwrite ?? "none").toLowerCase();
    const allowMerge = mode !== "none";
    const replaceFiles = mode === "delete" || mode === "override";
    const subjectLabel = opts.subject ?? prearc.subject;
    const label = opts.label ?? prearc.name;
    let exp = [...this.experiments.values()].find((e) => e.project === projectId && e.label === label);
    if (exp) {
      const subj = this.subjects.get(exp.subjectId);
      if (!allowMerge || (subj && subj.label !== subjectLabel && subj.id !== subjectLabel)) {
        prearc.status = "CONFLICT";
        return { ok: false, status: 409, message: `Session ${label} already exists in project ${projectId}` };
      }
    }
    const subject = this.findSubject(projectId, subjectLabel) ?? this.createSubject(projectId, subjectLabel, user.login);
    if (!exp) {
      exp = {
        id: `XNAT_E${pad(++this.experimentSeq, 5)}`,
        label,
        project: projectId,
        subjectId: subject.id,
        xsiType: SESSION_TYPES[prearc.modality] ?? "xnat:otherDicomSessionData",
        date: prearc.scanDate || undefined,
        time: prearc.scanTime || undefined,
        uid: prearc.tag,
        modality: prearc.modality,
        insertDate: xnatDateTime(new Date()),
        fields: {},
        scans: new Map(),
        resources: new Map(),
      };
      this.experiments.set(exp.id, exp);
    }
    for (const ps of prearc.scans.values()) {
      let scan = [...exp.scans.values()].find((s) => s.uid === ps.uid);
      if (!scan) {
        let id = ps.id;
        let n = 1;
        while (exp.scans.has(id)) id = `${ps.id}-${++n}`;
        scan = {
          id,
          xsiType: SCAN_TYPES[ps.modality] ?? "xnat:otherDicomScanData",
          type: ps.seriesDescription || undefined,
          seriesDescription: ps.seriesDescription || undefined,
          uid: ps.uid,
          modality: ps.modality,
          quality: "usable",
          fields: {},
          resources: new Map(),
        };
        exp.scans.set(id, scan);
      }
      let res = scan.resources.get("DICOM");
      if (!res) {
        res = this.newResource("DICOM", "DICOM", "RAW");
        scan.resources.set("DICOM", res);
      }
      for (const [name, file] of ps.files) {
        if (res.files.has(name) && !replaceFiles) continue; // append keeps existing files
        res.files.set(name, file);
      }
    }
    const idx = this.prearchive.indexOf(prearc);
    if (idx >= 0) this.prearchive.splice(idx, 1);
    return { ok: true, uri: `/archive/projects/${projectId}/subjects/${subject.id}/experiments/${exp.id}` };
  }

  // ── Prearchive ──

  private prearcRow(s: PrearcSession): Record<string, string> {
    return {
      project: s.project,
      timestamp: s.timestamp,
      lastmod: xnatDateTime(s.lastmod),
      uploaded: xnatDateTime(s.uploaded),
      scan_date: s.scanDate,
      scan_time: s.scanTime,
      subject: s.subject,
      folderName: s.folder,
      name: s.name,
      tag: s.tag,
      status: s.status,
      url: `/prearchive/projects/${s.project}/${s.timestamp}/${s.folder}`,
      autoarchive: s.autoarchive,
      prevent_anon: String(s.preventAnon),
      prevent_auto_commit: String(s.preventAutoCommit),
      SOURCE: s.source,
      VISIT: s.visit,
      PROTOCOL: s.protocol,
      TIMEZONE: s.timezone,
    };
  }

  private prearcVisible(s: PrearcSession, user: TestUser): boolean {
    if (user.admin) return true;
    if (s.project === "Unassigned") return s.uploader === user.login;
    const p = this.projects.get(s.project);
    return Boolean(p && this.role(user, p) !== null);
  }

  private findPrearc(project: string, ts: string, folder: string): PrearcSession | undefined {
    return this.prearchive.find((s) => s.project === project && s.timestamp === ts && s.folder === folder);
  }

  private canModifyPrearc(s: PrearcSession, user: TestUser): boolean {
    if (user.admin) return true;
    if (s.project === "Unassigned") return s.uploader === user.login;
    const p = this.projects.get(s.project);
    return Boolean(p && this.canEdit(user, p));
  }

  private moveSession(s: PrearcSession, newProject: string, user: TestUser): void {
    const p = this.projects.get(newProject);
    if (!p) throw new HttpError(404, `Unable to find project ${newProject}`);
    if (!this.canEdit(user, p) || !this.canModifyPrearc(s, user)) throw new HttpError(403, `User ${user.login} cannot move sessions into project ${newProject}`);
    s.project = p.id;
    s.lastmod = new Date();
  }

  private prearchiveApi(method: string, path: string, query: Record<string, string | string[]>, user: TestUser): Reply {
    const q = (k: string) => {
      const v = query[k];
      return Array.isArray(v) ? v[0] : v;
    };
    const segs = path.split("/").slice(3).map((x) => decodeURIComponent(x)).filter(Boolean); // after /data/prearchive
    if (segs[0] !== "projects") return errorPage(404, "The server has not found anything matching the request URI");
    if (segs.length === 1) {
      if (method !== "GET") return errorPage(405, "Method not allowed");
      return this.listing(this.prearchive.filter((s) => this.prearcVisible(s, user)).map((s) => this.prearcRow(s)), query, "Prearchive");
    }
    const project = segs[1]!;
    if (segs.length === 2) {
      if (method !== "GET") return errorPage(405, "Method not allowed");
      if (project !== "Unassigned") this.project(project, user, "read");
      return this.listing(this.prearchive.filter((s) => s.project === project && this.prearcVisible(s, user)).map((s) => this.prearcRow(s)), query, "Prearchive");
    }
    if (segs.length < 4) return errorPage(404, "The server has not found anything matching the request URI");
    const s = this.findPrearc(project, segs[2]!, segs[3]!);
    if (!s || !this.prearcVisible(s, user)) return errorPage(404, `Unable to find prearchive session ${segs.slice(1, 4).join("/")}`);
    const self = `/data/prearchive/projects/${s.project}/${s.timestamp}/${s.folder}`;
    const rest = segs.slice(4);
    if (rest.length === 0) {
      if (method === "GET") {
        const format = q("format") ?? "json";
        if (format === "json") return this.listing([this.prearcRow(s)], { format: "json" }, "Prearchive session");
        if (format === "xml") return errorPage(404, "The named session exists, but its XNAT session document is not available. The session is likely invalid or incomplete.");
        return errorPage(400, `Unsupported format ${format}`);
      }
      if (method === "DELETE") {
        if (!this.canModifyPrearc(s, user)) return errorPage(403, `User ${user.login} cannot delete this prearchive session`);
        this.prearchive.splice(this.prearchive.indexOf(s), 1);
        return { status: 200, body: "" };
      }
      if (method === "POST") {
        const action = q("action");
        if (!action) return errorPage(400, "No action parameter was specified. Please use action=build, commit, move, reset-status or set-status.");
        if (s.locked) return errorPage(409, "session document locked");
        if (!this.canModifyPrearc(s, user)) return errorPage(403, `User ${user.login} cannot modify this prearchive session`);
        if (action === "build") {
          s.status = "READY";
          return uriList(200, [self]);
        }
        if (action === "commit") {
          s.status = "READY";
          // assumed: a session is auto-archive if it arrived so, or its (current) project archives automatically
          const autoProject = (this.projects.get(s.project)?.prearchiveCode ?? 0) !== 0;
          if ((s.autoarchive !== "Manual" || autoProject) && s.project !== "Unassigned") {
            const r = this.archiveSession(s, { overwrite: q("overwrite") }, user);
            if (!r.ok) return errorPage(r.status, r.message);
            return uriList(301, [`/data${r.uri}`], { Location: `${this.url}/data${r.uri}` });
          }
          return uriList(200, [self]);
        }
        if (action === "move") {
          const np = q("newProject");
          if (!np) return errorPage(400, "newProject is required for action=move");
          this.moveSession(s, np, user);
          const moved = `/data/prearchive/projects/${s.project}/${s.timestamp}/${s.folder}`;
          return uriList(301, [moved], { Location: `${this.url}${moved}` });
        }
        if (action === "reset-status" || action === "set-status") {
          s.status = q("status") ?? "READY";
          return uriList(200, [self]);
        }
        return errorPage(400, `Unknown action ${action}`);
      }
      return errorPage(405, "Method not allowed");
    }
    if (rest[0] === "scans" && method === "GET") {
      if (rest.length === 1) {
        return this.listing([...s.scans.values()].map((sc) => ({ ID: sc.id, series_description: sc.seriesDescription, xsiType: SCAN_TYPES[sc.modality] ?? "xnat:otherDicomScanData", URI: `${self}/scans/${sc.id}` })), query, "Scans");
      }
      const sc = s.scans.get(rest[1]!);
      if (!sc) return errorPage(404, `Unable to find scan ${rest[1]}`);
      if (rest[2] === "resources" && rest[3] === "DICOM" && rest[4] === "files" && rest.length === 5) {
        return this.listing(
          [...sc.files.values()].map((f) => ({ Name: f.name, Size: String(f.size), URI: `${self}/scans/${sc.id}/resources/DICOM/files/${f.name}`, collection: "DICOM", cat_ID: "", digest: f.digest, file_content: "", file_format: "DICOM", file_tags: "" })),
          query,
          "Files",
        );
      }
    }
    return errorPage(404, "The server has not found anything matching the request URI");
  }

  private srcSessions(query: Record<string, string | string[]>, user: TestUser): PrearcSession[] {
    const srcs = query.src === undefined ? [] : Array.isArray(query.src) ? query.src : [query.src];
    if (srcs.length === 0) throw new HttpError(400, "At least one src parameter is required");
    return srcs.map((src) => {
      const m = /^(?:\/data)?\/prearchive\/projects\/([^/]+)\/([^/]+)\/([^/]+)\/?$/.exec(src);
      if (!m) throw new HttpError(400, `Invalid src ${src}`);
      const s = this.findPrearc(decodeURIComponent(m[1]!), decodeURIComponent(m[2]!), decodeURIComponent(m[3]!));
      if (!s || !this.prearcVisible(s, user)) throw new HttpError(404, `Unable to find prearchive session ${src}`);
      return s;
    });
  }

  private batchPrearchive(method: string, path: string, query: Record<string, string | string[]>, user: TestUser): Reply {
    if (method !== "POST") return errorPage(405, "Method not allowed");
    const op = path.split("/")[4];
    const list = this.srcSessions(query, user);
    const np = Array.isArray(query.newProject) ? query.newProject[0] : query.newProject;
    for (const s of list) {
      if (s.locked) throw new HttpError(409, "session document locked");
      if (op === "move") {
        if (!np) throw new HttpError(400, "newProject is required");
        this.moveSession(s, np, user);
      } else if (op === "delete") {
        if (!this.canModifyPrearc(s, user)) throw new HttpError(403, `User ${user.login} cannot delete this prearchive session`);
        this.prearchive.splice(this.prearchive.indexOf(s), 1);
      } else if (op === "rebuild") {
        s.status = "READY";
      } else {
        throw new HttpError(404, `Unknown prearchive service ${op}`);
      }
    }
    return this.listing(list.filter((s) => this.prearchive.includes(s)).map((s) => this.prearcRow(s)), { format: "json" }, "Prearchive");
  }

  private archiveService(method: string, query: Record<string, string | string[]>, user: TestUser): Reply {
    if (method !== "POST") return errorPage(405, "Method not allowed");
    const q = (k: string) => {
      const v = query[k];
      return Array.isArray(v) ? v[0] : v;
    };
    const list = this.srcSessions(query, user);
    const uris: string[] = [];
    for (const s of list) {
      if (s.project === "Unassigned") throw new HttpError(400, "Cannot archive sessions from the Unassigned folder.");
      if (s.locked) throw new HttpError(409, "session document locked");
      let project = q("project");
      let subject = q("subject");
      let label = q("session");
      const dest = q("dest");
      if (dest) {
        const m = /^\/archive\/projects\/([^/]+)(?:\/subjects\/([^/]+)(?:\/experiments\/([^/]+))?)?\/?$/.exec(dest);
        if (!m) throw new HttpError(400, `Invalid destination ${dest}`);
        project ??= m[1];
        subject ??= m[2];
        label ??= m[3];
      }
      if (project && project !== s.project) throw new HttpError(400, `The source session is in project ${s.project} but the destination is project ${project}; move it first.`);
      const r = this.archiveSession(s, { overwrite: q("overwrite"), subject, label }, user);
      if (!r.ok) throw new HttpError(r.status, r.message);
      uris.push(`/data${r.uri}`);
    }
    return uriList(200, uris);
  }
}

/** XNAT's base types of an element: what an `xsiType=` filter on a listing also matches. */
function xsiTypeMatches(type: string, wanted: string): boolean {
  const t = type.toLowerCase();
  const w = wanted.toLowerCase();
  if (t === w) return true;
  if (w === "xnat:experimentdata") return t !== "xnat:subjectdata" && t !== "xnat:projectdata";
  if (w === "xnat:subjectassessordata") return /sessiondata$|assessordata$/.test(t) && !/imageassessordata$/.test(t);
  if (w === "xnat:imagesessiondata") return /sessiondata$/.test(t);
  if (w === "xnat:imagescandata") return /scandata$/.test(t);
  return false;
}

/** The field of a row a column or filter names: the alias itself, an xml path as a field, or the path's last step. */
function columnKey(fields: Record<string, string>, name: string): string | undefined {
  if (name in fields) return name;
  const lower = name.toLowerCase();
  const byCase = Object.keys(fields).find((k) => k.toLowerCase() === lower);
  if (byCase) return byCase;
  if (!name.includes("/")) return undefined;
  const last = lower.slice(lower.lastIndexOf("/") + 1);
  return Object.keys(fields).find((k) => !k.includes("/") && k.toLowerCase() === last);
}

function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** The XML element name of an xsi type: xnat:mrSessionData → MRSession, xnat:subjectData → Subject. */
function elementName(xsiType: string): string {
  const local = xsiType.replace(/^[^:]*:/, "").replace(/Data$/, "");
  const m = /^([a-z]+)(Session|Scan)$/.exec(local);
  if (m && m[1]!.length <= 4) return m[1]!.toUpperCase() + m[2];
  return local.charAt(0).toUpperCase() + local.slice(1);
}

function xmlDoc(root: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n${root}\n`;
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

/** Starts a test XNAT on 127.0.0.1, port 0. Remember to `await server.close()`. */
export async function startXnatTestServer(options: XnatTestServerOptions = {}): Promise<XnatTestServer> {
  const server = new XnatTestServer(options);
  await server.listen();
  return server;
}
