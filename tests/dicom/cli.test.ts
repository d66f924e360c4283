// `atrium deid` end to end, as a real process: persistent pseudonyms across runs with
// --project and DATABASE_URL (real PostgreSQL), the in-memory warning, duplicates, exit codes,
// and output paths that never carry the input's names.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createTestDatabase } from "../helpers/pg";
import { parseDicom, stringValue } from "@/lib/dicom/parse";
import { BufferSource } from "@/lib/dicom/source";
import { SAMPLES } from "./helpers";

const ROOT = path.resolve(import.meta.dirname, "..", "..");
// Input names that look like PHI: none of this may appear in an output path.
const PHI_NAMES = ["DOE_JOHN", "Smith^Jane", "MRN12345", "bbmri", "CT_small", "nested"];

function atriumDeid(args: string[], env: Record<string, string | undefined>) {
  const e = {} as NodeJS.ProcessEnv;
  for (const [k, v] of Object.entries({ ...process.env, NODE_ENV: "test", ATRIUM_LOG_LEVEL: "warn", ...env })) if (v !== undefined) e[k] = v;
  const r = spawnSync(process.execPath, [path.join(ROOT, "bin", "atrium.mjs"), "deid", ...args], { cwd: ROOT, env: e, encoding: "utf8", timeout: 60_000 });
  const last = r.stdout.trim().split("\n").pop() ?? "";
  return { code: r.status, stderr: r.stderr, json: last.startsWith("{") ? JSON.parse(last) : undefined };
}

function listFiles(dir: string, base = dir): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...listFiles(p, base));
    else out.push(path.relative(base, p));
  }
  return out.sort();
}

/** Output files other than the quarantine folder, with the dates inside them. */
function outputs(dir: string): { rel: string; studyDate?: string; patientName?: string }[] {
  return listFiles(dir)
    .filter((f) => !f.startsWith("quarantine"))
    .map((rel) => {
      const ds = parseDicom(new BufferSource(readFileSync(path.join(dir, rel)))).dataset;
      return { rel, studyDate: stringValue(ds, 0x00080020), patientName: stringValue(ds, 0x00100010) };
    });
}

let work: string;
let input: string;
let db: Awaited<ReturnType<typeof createTestDatabase>>;

beforeAll(async () => {
  db = await createTestDatabase();
  work = mkdtempSync(path.join(tmpdir(), "atrium-deid-cli-"));
  input = path.join(work, "in");
  mkdirSync(path.join(input, "Smith^Jane", "MRN12345"), { recursive: true });
  copyFileSync(path.join(SAMPLES, "pydicom__CT_small.dcm"), path.join(input, "DOE_JOHN_CT_small.dcm"));
  copyFileSync(path.join(SAMPLES, "dwv__bbmri-53323131.dcm"), path.join(input, "Smith^Jane", "MRN12345", "bbmri-1.dcm"));
  copyFileSync(path.join(SAMPLES, "dwv__bbmri-53323275.dcm"), path.join(input, "Smith^Jane", "MRN12345", "bbmri-2.dcm"));
  copyFileSync(path.join(SAMPLES, "pydicom-data__emri_small.dcm"), path.join(input, "Smith^Jane", "emri.dcm"));
  // The same SOP instance twice (a duplicate), and an object that must be quarantined.
  copyFileSync(path.join(SAMPLES, "pydicom__CT_small.dcm"), path.join(input, "Smith^Jane", "DOE_JOHN_copy.dcm"));
  copyFileSync(path.join(SAMPLES, "pydicom__nested_priv_SQ.dcm"), path.join(input, "nested_MRN12345.dcm"));
});
afterAll(async () => {
  await db?.drop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("atrium deid (command)", () => {
  it("with --project and DATABASE_URL but no ATRIUM_SECRET_KEY, refuses before processing anything, saying what to set", () => {
    const out = path.join(work, "nokey-out");
    const r = atriumDeid(["--in", input, "--out", out, "--project", "trial-nokey"], { DATABASE_URL: db.url, ATRIUM_SECRET_KEY: undefined, NEXTAUTH_SECRET: undefined });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/set ATRIUM_SECRET_KEY \(the same as the portal's and workers'\)/);
    expect(existsSync(out) ? listFiles(out) : []).toEqual([]);
  });

  it("keeps pseudonyms, UIDs and date offsets across runs with --project and DATABASE_URL", async () => {
    const env = { DATABASE_URL: db.url, ATRIUM_SECRET_KEY: "cli-test-secret-key-0123456789" };
    // Modified dates: shifted by the subject's offset, which must also survive between runs.
    const common = ["--in", input, "--project", "trial-7", "--profile", "basic+retainLongitudinalModifiedDates", "--json"];
    const a = atriumDeid([...common, "--out", path.join(work, "run1"), "--pattern", "TRIAL7-{000}"], env);
    const b = atriumDeid([...common, "--out", path.join(work, "run2")], env);
    const c = atriumDeid([...common, "--out", path.join(work, "run3"), "--jobs", "2"], env);
    for (const r of [a, b, c]) {
      expect(r.code, r.stderr).toBe(1); // one input is quarantined
      expect(r.stderr).not.toMatch(/NOT kept between runs/);
      expect(r.json).toMatchObject({ files: 6, deidentified: 4, quarantined: 1, duplicates: 1, pseudonymStore: "database" });
      expect(r.stderr).toMatch(/de-identified\s+4/);
      expect(r.stderr).toMatch(/quarantined\s+1 — malformed: 1/);
      expect(r.stderr).toMatch(/duplicates\s+1/);
      expect(r.stderr).toMatch(/files\/s/);
      expect(r.stderr).toMatch(/MB\/s/);
    }
    expect(c.json.workerStartupSeconds).toBeGreaterThan(0);
    expect(c.json.workerLoader).toBe("bundle");
    const o1 = outputs(path.join(work, "run1"));
    const o2 = outputs(path.join(work, "run2"));
    const o3 = outputs(path.join(work, "run3"));
    expect(o1).toHaveLength(4);
    expect(o1.every((o) => /^TRIAL7-\d{3}\//.test(o.rel))).toBe(true);
    const ctIn = stringValue(parseDicom(new BufferSource(readFileSync(path.join(input, "DOE_JOHN_CT_small.dcm")))).dataset, 0x00080020);
    expect(o1.every((o) => /^\d{8}$/.test(o.studyDate ?? ""))).toBe(true);
    expect(o1.map((o) => o.studyDate)).not.toContain(ctIn);
    expect(new Set(o1.map((o) => o.rel.split("/")[0])).size).toBeGreaterThanOrEqual(2);
    // Same pseudonyms, same new Study/Series/SOP UIDs (the paths), same shifted-or-dummy dates.
    expect(o2).toEqual(o1);
    expect(o3).toEqual(o1);
    const rows = await db.prisma.deidSubject.findMany({ where: { projectId: "trial-7" } });
    expect(rows.map((r) => r.pseudonym).sort()).toEqual([...new Set(o1.map((o) => o.rel.split("/")[0]))].sort());

    // The duplicate is recorded, not quarantined; the quarantined input is kept unchanged.
    const tsv = readFileSync(path.join(work, "run1", "quarantine", "reasons.tsv"), "utf8").trim().split("\n");
    expect(tsv.filter((l) => l.includes("\tduplicate\t"))).toHaveLength(1);
    expect(tsv.find((l) => l.includes("\tduplicate\t"))).toMatch(/duplicate SOP Instance UID/);
    expect(tsv.filter((l) => l.includes("\tmalformed\t"))).toHaveLength(1);
    const q = listFiles(path.join(work, "run1", "quarantine")).filter((f) => f.endsWith(".dcm"));
    expect(q).toHaveLength(1);
    expect(readFileSync(path.join(work, "run1", "quarantine", q[0]))).toEqual(readFileSync(path.join(input, "nested_MRN12345.dcm")));

    // Output paths (and reasons.tsv) never carry the input's names.
    for (const dir of ["run1", "run2", "run3"]) {
      const all = listFiles(path.join(work, dir)).join("\n") + readFileSync(path.join(work, dir, "quarantine", "reasons.tsv"), "utf8");
      for (const n of PHI_NAMES) expect(all.toLowerCase()).not.toContain(n.toLowerCase());
    }
  });

  it("refuses a CTP script that is not a script: non-zero exit, the line and the reason, nothing written", () => {
    const clean = path.join(work, "garbage-in");
    mkdirSync(clean, { recursive: true });
    copyFileSync(path.join(SAMPLES, "pydicom__CT_small.dcm"), path.join(clean, "ct.dcm"));
    const script = path.join(work, "garbage.script");
    writeFileSync(script, "this is not a script\n");
    const out = path.join(work, "garbage-out");
    const r = atriumDeid(["--in", clean, "--out", out, "--script", script, "--json"], {});
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/line 1: .*not a script line/);
    expect(r.json).toBeUndefined();
    expect(existsSync(out) ? listFiles(out) : []).toEqual([]);
  });

  it("quarantines (exit 1) the output of a script that keeps Patient's Name: the floor check names the path, never the value", () => {
    const clean = path.join(work, "keep-in");
    mkdirSync(clean, { recursive: true });
    copyFileSync(path.join(SAMPLES, "pydicom__CT_small.dcm"), path.join(clean, "ct.dcm"));
    const script = path.join(work, "keep.script");
    // Everything else removed or hashed (CTP keeps the SOP/Study UIDs unless a rule changes them); Patient's Name kept as it is.
    writeFileSync(
      script,
      [
        "<script>",
        '<e t="00100010" n="PatientName">@keep()</e>',
        '<e t="00080018" n="SOPInstanceUID">@hashuid(1.2.3,this)</e>',
        '<e t="0020000D" n="StudyInstanceUID">@hashuid(1.2.3,this)</e>',
        '<e t="00120062" n="PatientIdentityRemoved">@always()YES</e>',
        '<r t="unspecifiedelements"/>',
        "</script>",
      ].join("\n"),
    );
    const out = path.join(work, "keep-out");
    const r = atriumDeid(["--in", clean, "--out", out, "--script", script, "--json"], {});
    expect(r.code, r.stderr).toBe(1);
    expect(r.json).toMatchObject({ files: 1, deidentified: 0, quarantined: 1 });
    const tsv = readFileSync(path.join(out, "quarantine", "reasons.tsv"), "utf8");
    expect(tsv).toMatch(/\tverification_failed\t\(0010,0010\)\t/);
    expect(tsv.toLowerCase()).not.toContain("compressedsamples");
    expect(listFiles(out).filter((f) => !f.startsWith("quarantine"))).toEqual([]);
    // The operator lets Patient's Name through the floor explicitly: released.
    const allowed = atriumDeid(["--in", clean, "--out", path.join(work, "keep-out-2"), "--script", script, "--floor-keep", "PatientName", "--json"], {});
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(allowed.json).toMatchObject({ files: 1, deidentified: 1, quarantined: 0 });
    expect(atriumDeid(["--in", clean, "--out", path.join(work, "keep-out-3"), "--script", script, "--floor-keep", "NoSuchElement"], {}).code).toBe(2);
  });

  it("exits 0 when nothing is quarantined; warns when pseudonyms are not kept", () => {
    const clean = path.join(work, "clean-in");
    mkdirSync(clean, { recursive: true });
    copyFileSync(path.join(SAMPLES, "pydicom__CT_small.dcm"), path.join(clean, "DOE_JOHN.dcm"));
    const r = atriumDeid(["--in", clean, "--out", path.join(work, "clean-out"), "--project", "p", "--json"], { DATABASE_URL: undefined });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/NOT kept between runs \(DATABASE_URL is not set\)/);
    expect(r.json).toMatchObject({ files: 1, deidentified: 1, quarantined: 0, duplicates: 0, pseudonymStore: "memory" });
    const files = listFiles(path.join(work, "clean-out"));
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^SUBJ-0001\/[\d.]+\/[\d.]+\/[\d.]+\.dcm$/);
  });
});
