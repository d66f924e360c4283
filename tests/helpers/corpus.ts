// Test and benchmark corpora made from the shared samples: N copies of the single-frame,
// uncompressed CT/MR samples, each with a new SOP Instance UID (DCMTK `dcmodify -nb -gin`), so
// every copy is a distinct instance that any storescu sends without an association config.
import { spawn } from "node:child_process";
import { copyFile, mkdir, readdir, stat } from "node:fs/promises";
import path from "node:path";
import { readPart10Info } from "../../lib/dicom-net/part10";
import { TS } from "../../lib/dicom-net/uids";
import { SAMPLES_DIR } from "../../lib/samples";

const CT = "1.2.840.10008.5.1.4.1.1.2";
const MR = "1.2.840.10008.5.1.4.1.1.4";

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    c.stderr.on("data", (d) => (err += d));
    c.on("error", reject);
    c.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited ${code}: ${err.slice(0, 400)}`))));
  });
}

export async function uncompressedSingleFrameSamples(): Promise<string[]> {
  const out: string[] = [];
  for (const f of (await readdir(SAMPLES_DIR)).sort()) {
    try {
      const i = await readPart10Info(path.join(SAMPLES_DIR, f));
      const single = i.datasetSopClassUid === CT || i.datasetSopClassUid === MR;
      const plain = i.transferSyntaxUid === TS.ExplicitVRLittleEndian || i.transferSyntaxUid === TS.ImplicitVRLittleEndian;
      if (single && plain && !/multiframe/i.test(f)) out.push(path.join(SAMPLES_DIR, f));
    } catch {
      // not DICOM
    }
  }
  return out;
}

export interface Corpus {
  dirs: string[];
  files: string[];
  bytes: number;
  sources: number;
}

/** Writes `n` distinct instances into `parts` sub-folders of `dir` (one per sending association). */
export async function makeCorpus(dir: string, n: number, parts = 1): Promise<Corpus> {
  const sources = await uncompressedSingleFrameSamples();
  if (!sources.length) throw new Error("No single-frame uncompressed CT/MR sample found in the samples folder.");
  const dirs = Array.from({ length: parts }, (_, p) => path.join(dir, `part-${p}`));
  for (const d of dirs) await mkdir(d, { recursive: true });
  const files: string[] = [];
  for (let k = 0; k < n; k++) {
    const dst = path.join(dirs[k % parts]!, `${String(k).padStart(6, "0")}.dcm`);
    await copyFile(sources[k % sources.length]!, dst);
    files.push(dst);
  }
  // copies of read-only samples are read-only
  await run("chmod", ["-R", "u+w", dir]);
  for (let k = 0; k < files.length; k += 200) await run("dcmodify", ["-nb", "-gin", ...files.slice(k, k + 200)]);
  let bytes = 0;
  for (const f of files) bytes += (await stat(f)).size;
  return { dirs, files, bytes, sources: sources.length };
}
