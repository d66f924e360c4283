// Batch de-identification of files on disk (the `atrium deid` command and its worker threads).
// Output: OUT/<pseudonym>/<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm; quarantined
// inputs are copied unchanged to OUT/quarantine/<generated id>.dcm (never the input's name).
import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { parentPort, workerData, isMainThread } from "node:worker_threads";
import { deidentify, type DeidConfig } from "./deid";
import { compileProfile, parseProfileSpec, type ProfileOption } from "./profile";
import { parseCtpScript, parseLookupProperties } from "./ctp/script";
import { parsePixelScript } from "./pixel";
import { openSource } from "./source";
import { writeEncodedFile } from "./write";
import { MemoryPseudonymStore, parseLookupCsv, deriveUid, type PseudonymStore, type SubjectPseudonym } from "./pseudonyms";

export interface BatchSpec {
  projectId: string;
  profile?: string; // "basic+opt…" or a JSON file {"options":[…]}
  scriptFile?: string;
  lookupFile?: string;
  pixelScriptFile?: string;
  pattern?: string;
  salt: string;
  burnedIn?: "flag" | "quarantine" | "ignore";
}

export interface FileResult {
  kind: "deidentified" | "skipped" | "quarantined";
  code?: string;
  reason?: string;
  elementPath?: string;
  quarantineId?: string;
  flags?: string[];
  bytes: number;
}

function safeSegment(s: string): string {
  const t = s.replace(/[^A-Za-z0-9._-]/g, "_").replace(/^\.+/, "_").slice(0, 64);
  return t || "UNKNOWN";
}

export function loadProfileOptions(spec: string | undefined): ProfileOption[] {
  if (!spec) return [];
  if (spec.startsWith("basic")) return parseProfileSpec(spec);
  const j = JSON.parse(readFileSync(spec, "utf8")) as { options?: string[] };
  return parseProfileSpec(["basic", ...(j.options ?? [])].join("+"));
}

export function buildConfig(spec: BatchSpec, store: PseudonymStore): DeidConfig {
  const cfg: DeidConfig = { projectId: spec.projectId, store, burnedIn: spec.burnedIn ?? "flag" };
  if (spec.scriptFile) {
    cfg.script = parseCtpScript(readFileSync(spec.scriptFile, "utf8"));
    if (spec.lookupFile && /\.properties$/i.test(spec.lookupFile)) cfg.script.lookup = parseLookupProperties(readFileSync(spec.lookupFile, "utf8"));
    else if (spec.lookupFile) for (const [k, v] of parseLookupCsv(readFileSync(spec.lookupFile, "utf8"))) cfg.script.lookup.set(`ptid/${k}`, v);
  } else cfg.profile = compileProfile(loadProfileOptions(spec.profile));
  if (spec.pixelScriptFile) cfg.pixelScript = parsePixelScript(readFileSync(spec.pixelScriptFile, "utf8"));
  return cfg;
}

export async function processFile(inPath: string, outDir: string, cfg: DeidConfig): Promise<FileResult> {
  let source;
  try {
    source = openSource(inPath);
  } catch {
    return quarantineCopy(inPath, outDir, { kind: "quarantined", code: "unreadable", reason: "Input file cannot be read", bytes: 0 });
  }
  try {
    const o = await deidentify(source, cfg);
    if (o.kind === "deidentified") {
      const dir = path.join(outDir, safeSegment(o.pseudonym), safeSegment(o.studyInstanceUID), safeSegment(o.seriesInstanceUID));
      mkdirSync(dir, { recursive: true });
      writeEncodedFile(o.encoded, path.join(dir, `${safeSegment(o.sopInstanceUID)}.dcm`));
      return { kind: "deidentified", flags: o.flags, bytes: source.size };
    }
    if (o.kind === "skipped") return { kind: "skipped", reason: o.reason, bytes: source.size };
    return quarantineCopy(inPath, outDir, { kind: "quarantined", code: o.code, reason: o.reason, elementPath: o.elementPath, bytes: source.size });
  } finally {
    source.close?.();
  }
}

function quarantineCopy(inPath: string, outDir: string, r: FileResult): FileResult {
  const id = randomUUID();
  const q = path.join(outDir, "quarantine");
  mkdirSync(q, { recursive: true });
  try {
    copyFileSync(inPath, path.join(q, `${id}.dcm`));
  } catch {
    r.reason = `${r.reason ?? ""} (the input could not be copied to quarantine)`;
  }
  return { ...r, quarantineId: id };
}

/** A store whose subjects live in the main thread (one pseudonym per patient across workers). */
export class RemoteSubjectStore implements PseudonymStore {
  private next = 1;
  private pending = new Map<number, { resolve: (s: SubjectPseudonym) => void; reject: (e: Error) => void }>();
  constructor(
    private port: NonNullable<typeof parentPort>,
    private salt: string,
  ) {
    port.on("message", (m: { type: string; id: number; ok?: SubjectPseudonym; lookupMiss?: boolean; error?: string }) => {
      if (m.type !== "subject") return;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.ok);
      else p.reject(m.lookupMiss ? Object.assign(new (class LookupMiss extends Error {})(), { code: "lookup_miss" }) : new Error(m.error ?? "store"));
    });
  }
  subject(projectId: string, patientKey: string): Promise<SubjectPseudonym> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.port.postMessage({ type: "subject", id, projectId, patientKey });
    });
  }
  async mapUids(_projectId: string, uids: string[]): Promise<Map<string, string>> {
    return new Map(uids.map((u) => [u, deriveUid(this.salt, u)]));
  }
}

// Worker entry: receives file paths, returns results.
if (!isMainThread && parentPort && (workerData as { atriumDeidWorker?: boolean })?.atriumDeidWorker) {
  const { spec, outDir } = workerData as { spec: BatchSpec; outDir: string };
  const port = parentPort;
  const { LookupMissError } = await import("./pseudonyms");
  const remote = new RemoteSubjectStore(port, spec.salt);
  // Map the main thread's lookup-miss answer back onto the engine's error type.
  const store: PseudonymStore = {
    subject: (p, k) =>
      remote.subject(p, k).catch((e: { code?: string }) => {
        throw e?.code === "lookup_miss" ? new LookupMissError() : e;
      }),
    mapUids: (p, u) => remote.mapUids(p, u),
  };
  const cfg = buildConfig(spec, store);
  port.on("message", async (m: { type: string; file?: string; index?: number }) => {
    if (m.type !== "file" || !m.file) return;
    const r = await processFile(m.file, outDir, cfg);
    port.postMessage({ type: "result", index: m.index, result: r });
  });
  port.postMessage({ type: "ready" });
}

export { MemoryPseudonymStore };
