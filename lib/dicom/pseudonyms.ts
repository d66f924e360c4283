// Pseudonymisation state per project: patient → pseudonym (by pattern, e.g. PRJ-0001, or from an
// uploaded lookup table), UID remapping, and the per-subject (or per-project) date offset.
import { createHash, createHmac, randomBytes, randomInt } from "node:crypto";

export interface SubjectPseudonym {
  pseudonym: string;
  /** Days to add to every date of this subject (negative = earlier). */
  dateOffsetDays: number;
}

export interface PseudonymStore {
  /** The subject's pseudonym, created on first use. Rejects with LookupMissError in lookup mode. */
  subject(projectId: string, patientKey: string): Promise<SubjectPseudonym>;
  /** New UIDs for the given original UIDs, the same for the same original within a project. */
  mapUids(projectId: string, uids: string[]): Promise<Map<string, string>>;
}

export class LookupMissError extends Error {
  readonly code = "lookup_miss";
  constructor() {
    super("patient is not in the project's lookup table");
  }
}

export interface PseudonymSettings {
  /** "pattern": generate from `pattern`; "lookup": only patients in the lookup table. */
  mode: "pattern" | "lookup";
  /** e.g. "PRJ-{0000}": the braces hold the zero-padded sequence number. */
  pattern: string;
  /** "subject": one random offset per subject; "project": one for the whole project. */
  dateOffsetScope: "subject" | "project";
  /** Offsets are drawn uniformly from [min, max] days. */
  dateOffsetRange: [number, number];
}

export const DEFAULT_SETTINGS: PseudonymSettings = {
  mode: "pattern",
  pattern: "SUBJ-{0000}",
  dateOffsetScope: "subject",
  dateOffsetRange: [-3650, -365],
};

export function formatPseudonym(pattern: string, seq: number): string {
  const m = /\{(0*)(\d*)\}/.exec(pattern);
  if (!m) return `${pattern}${seq}`;
  const width = m[0].length - 2;
  return pattern.replace(m[0], String(seq).padStart(width, "0"));
}

/**
 * The unkeyed digest of a patient key: SHA-256 of (projectId, key). Never stored on its own any
 * more (a table of these lets anyone test candidate Patient IDs): the database keeps
 * keyedPatientHash of it. The in-memory store (CLI, tests) uses it as a map key.
 */
export function patientKeyHash(projectId: string, patientKey: string): string {
  return createHash("sha256").update(projectId).update("\0").update(patientKey.trim()).digest("hex");
}

/**
 * What the database stores for a patient: HMAC-SHA256 keyed with the project's secret over the
 * unkeyed digest (hex). Keyed over the digest, not over the Patient ID itself, so that rows written
 * before keying (which hold only the digest; the Patient ID cannot be recovered from it) are
 * re-keyed to exactly the value a new lookup of the same patient computes: existing subjects keep
 * their pseudonyms. Testing a candidate Patient ID now needs the secret, which is stored sealed
 * with ATRIUM_SECRET_KEY outside the database's reach.
 */
export function keyedPatientHash(secret: Buffer, unkeyedDigestHex: string): string {
  return createHmac("sha256", secret).update(unkeyedDigestHex).digest("hex");
}

/**
 * A UUID-derived UID (2.25.x) from a keyed hash of the original: deterministic per project
 * (same salt → same UID), so concurrent workers agree without coordinating.
 */
export function deriveUid(salt: string, original: string): string {
  const h = createHmac("sha256", salt).update(original.trim()).digest().subarray(0, 16);
  h[6] = (h[6] & 0x0f) | 0x80; // UUID version 8 (custom)
  h[8] = (h[8] & 0x3f) | 0x80; // RFC 4122 variant
  return `2.25.${BigInt(`0x${h.toString("hex")}`).toString(10)}`;
}

export function randomOffset(range: [number, number]): number {
  const [a, b] = range[0] <= range[1] ? range : [range[1], range[0]];
  let v = randomInt(a, b + 1);
  if (v === 0) v = a < 0 ? -1 : 1;
  return v;
}

/** Parses a lookup table CSV: `original,pseudonym` per line; an optional header line is skipped. */
export function parseLookupCsv(text: string): Map<string, string> {
  const out = new Map<string, string>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line || line.startsWith("#")) continue;
    const cells = splitCsvLine(line);
    if (cells.length < 2) throw new Error(`lookup table line ${i + 1}: expected two columns`);
    const [orig, pseudo] = [cells[0].trim(), cells[1].trim()];
    if (i === 0 && /^(patient.?id|original|key)$/i.test(orig)) continue;
    if (!orig || !pseudo) throw new Error(`lookup table line ${i + 1}: empty cell`);
    if (out.has(orig) && out.get(orig) !== pseudo) throw new Error(`lookup table line ${i + 1}: key listed twice with different pseudonyms`);
    out.set(orig, pseudo);
  }
  const seen = new Set<string>();
  for (const p of out.values()) {
    if (seen.has(p)) throw new Error("lookup table maps two patients to the same pseudonym");
    seen.add(p);
  }
  return out;
}

function splitCsvLine(line: string): string[] {
  const cells: string[] = [];
  let cur = "";
  let q = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (q) {
      if (c === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') q = false;
      else cur += c;
    } else if (c === '"') q = true;
    else if (c === "," || c === ";" || c === "\t") {
      cells.push(cur);
      cur = "";
    } else cur += c;
  }
  cells.push(cur);
  return cells;
}

/** In-process store (CLI, tests). Safe under concurrent async calls in one process. */
export class MemoryPseudonymStore implements PseudonymStore {
  private projects = new Map<
    string,
    { salt: string; next: number; subjects: Map<string, SubjectPseudonym>; used: Set<string>; projectOffset?: number }
  >();
  constructor(
    private settings: PseudonymSettings = DEFAULT_SETTINGS,
    private lookup?: Map<string, string>,
    private fixedSalt?: string,
  ) {}

  private project(projectId: string) {
    let p = this.projects.get(projectId);
    if (!p) {
      p = { salt: this.fixedSalt ?? randomBytes(32).toString("hex"), next: 1, subjects: new Map(), used: new Set() };
      this.projects.set(projectId, p);
    }
    return p;
  }

  async subject(projectId: string, patientKey: string): Promise<SubjectPseudonym> {
    const p = this.project(projectId);
    const key = patientKeyHash(projectId, patientKey);
    const found = p.subjects.get(key);
    if (found) return found;
    let pseudonym: string;
    // Lookup tables are keyed by Patient ID (the engine's key is "id:<PatientID>").
    const fromTable = patientKey.startsWith("id:") ? this.lookup?.get(patientKey.slice(3).trim()) : undefined;
    if (fromTable) pseudonym = fromTable;
    else if (this.settings.mode === "lookup") throw new LookupMissError();
    else {
      do pseudonym = formatPseudonym(this.settings.pattern, p.next++);
      while (p.used.has(pseudonym) || [...(this.lookup?.values() ?? [])].includes(pseudonym));
    }
    let dateOffsetDays: number;
    if (this.settings.dateOffsetScope === "project") {
      p.projectOffset ??= randomOffset(this.settings.dateOffsetRange);
      dateOffsetDays = p.projectOffset;
    } else dateOffsetDays = randomOffset(this.settings.dateOffsetRange);
    const s = { pseudonym, dateOffsetDays };
    p.subjects.set(key, s);
    p.used.add(pseudonym);
    return s;
  }

  async mapUids(projectId: string, uids: string[]): Promise<Map<string, string>> {
    const p = this.project(projectId);
    const out = new Map<string, string>();
    for (const u of uids) out.set(u, deriveUid(p.salt, u));
    return out;
  }
}
