// Batch de-identification of files on disk (the `atrium deid` command and its worker threads).
// Output: OUT/<pseudonym>/<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm; quarantined
// inputs are copied unchanged to OUT/quarantine/<generated id>.dcm (never the input's name).
import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { deidentify, type DeidConfig } from "./deid";
import { compileProfile, parseProfileSpec, type ProfileOption } from "./profile";
import { CtpScriptError, parseCtpScript, parseLookupProperties, resolveElementName } from "./ctp/script";
import { ctpScriptPatternProblems } from "./ctp/patterns";
import { floorTag } from "./floor";
import { parsePixelScript } from "./pixel";
import { BufferSource, openSource } from "./source";
import { writeEncodedFile } from "./write";
import { MemoryPseudonymStore, parseLookupCsv, type PseudonymStore } from "./pseudonyms";

export interface BatchSpec {
  projectId: string;
  profile?: string; // "basic+opt…" or a JSON file {"options":[…]}
  scriptFile?: string;
  lookupFile?: string;
  pixelScriptFile?: string;
  pattern?: string;
  salt: string;
  burnedIn?: "flag" | "quarantine" | "ignore";
  /** The de-identification floor: "basic[+retainOption…]" (default: basic plus the profile's options). */
  floor?: string;
  /** Elements the operator allows to be kept beyond the floor (keywords or gggg,eeee). */
  floorKeep?: string[];
  floorKeepPrivate?: boolean;
}

export interface FileResult {
  /** "duplicate": de-identified to an output path an earlier input of the run already wrote. */
  kind: "deidentified" | "skipped" | "quarantined" | "duplicate";
  /** Output path relative to OUT (pseudonym/study/series/sop.dcm) — never the input's name. */
  output?: string;
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
    try {
      cfg.script = parseCtpScript(readFileSync(spec.scriptFile, "utf8"));
    } catch (e) {
      if (e instanceof CtpScriptError) throw new Error(`the CTP script ${path.basename(spec.scriptFile)} cannot be used: ${e.message}. Nothing was processed.`);
      throw e;
    }
    const problems = ctpScriptPatternProblems(cfg.script);
    if (problems.length) throw new Error(`the CTP script ${path.basename(spec.scriptFile)} cannot be used: ${problems.join("; ")}. Nothing was processed.`);
    if (spec.lookupFile && /\.properties$/i.test(spec.lookupFile)) cfg.script.lookup = parseLookupProperties(readFileSync(spec.lookupFile, "utf8"));
    else if (spec.lookupFile) for (const [k, v] of parseLookupCsv(readFileSync(spec.lookupFile, "utf8"))) cfg.script.lookup.set(`ptid/${k}`, v);
  } else cfg.profile = compileProfile(loadProfileOptions(spec.profile));
  if (spec.floor || spec.floorKeep?.length || spec.floorKeepPrivate) {
    const options = spec.floor ? parseProfileSpec(spec.floor) : (cfg.profile?.options ?? []);
    const keepTags = (spec.floorKeep ?? []).map((n) => {
      const r = resolveElementName(n);
      if (r.tag === undefined) throw new Error(`--floor-keep: unknown element "${n}" (a keyword such as PatientName, or gggg,eeee)`);
      return floorTag(r.tag);
    });
    cfg.floor = { options, keepTags, keepPrivate: !!spec.floorKeepPrivate };
  }
  if (spec.pixelScriptFile) cfg.pixelScript = parsePixelScript(readFileSync(spec.pixelScriptFile, "utf8"));
  return cfg;
}

/**
 * Claims an output path (relative to OUT) for this run; false when an earlier input of the run
 * already produced it (the same SOP Instance UID), in which case the file is a duplicate.
 */
export type ClaimFn = (relPath: string) => boolean | Promise<boolean>;

export async function processFile(inPath: string, outDir: string, cfg: DeidConfig, claim?: ClaimFn): Promise<FileResult> {
  const p = await prepareFile(inPath, outDir, cfg);
  try {
    return p.rel && claim && !(await claim(p.rel)) ? p.duplicate() : p.commit();
  } finally {
    p.close();
  }
}

/**
 * A de-identified (or quarantined/skipped) file whose output is not written yet: the batch
 * workers prepare several files, claim their output paths in one round trip, then commit.
 * `close()` must be called (it releases the input when it is read on demand).
 */
export interface PreparedFile {
  /** Output path relative to OUT when the file was de-identified. */
  rel?: string;
  /** Input bytes held in memory until commit (for bounding a batch). */
  heldBytes: number;
  commit(): FileResult;
  duplicate(): FileResult;
  close(): void;
}

export async function prepareFile(inPath: string, outDir: string, cfg: DeidConfig): Promise<PreparedFile> {
  const done = (r: FileResult, close = () => undefined as void): PreparedFile => ({ heldBytes: 0, commit: () => r, duplicate: () => r, close });
  let source;
  try {
    source = openSource(inPath);
  } catch {
    return done(quarantineCopy(inPath, outDir, { kind: "quarantined", code: "unreadable", reason: "Input file cannot be read", bytes: 0 }));
  }
  const src = source;
  const close = () => src.close?.();
  try {
    const o = await deidentify(src, cfg);
    if (o.kind === "deidentified") {
      const relDir = path.join(safeSegment(o.pseudonym), safeSegment(o.studyInstanceUID), safeSegment(o.seriesInstanceUID));
      const rel = path.join(relDir, `${safeSegment(o.sopInstanceUID)}.dcm`);
      return {
        rel,
        heldBytes: src instanceof BufferSource ? src.size : 0,
        duplicate: () => ({ kind: "duplicate", output: rel, bytes: src.size }),
        commit: () => {
          mkdirSync(path.join(outDir, relDir), { recursive: true });
          writeEncodedFile(o.encoded, path.join(outDir, rel));
          return { kind: "deidentified", flags: o.flags, output: rel, bytes: src.size };
        },
        close,
      };
    }
    close();
    if (o.kind === "skipped") return done({ kind: "skipped", reason: o.reason, bytes: src.size });
    return done(quarantineCopy(inPath, outDir, { kind: "quarantined", code: o.code, reason: o.reason, elementPath: o.elementPath, bytes: src.size }));
  } catch (e) {
    close();
    throw e;
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

export { MemoryPseudonymStore };
