// Fuzz benchmark: >=10,000 seeded mutations of the shared samples (bit flips, truncations, length
// corruption) through the Basic profile; reports outcomes, throughput and peak RSS (< 300 MB).
//   npx tsx bench/fuzz.ts [--cases 10000] [--seed 1]
import { readdirSync, readFileSync } from "node:fs";
import { deidentify } from "../lib/dicom/deid";
import { MemoryPseudonymStore } from "../lib/dicom/pseudonyms";
import { mutate, rng } from "./fuzz-lib";

const args = process.argv.slice(2);
const cases = Number(args[args.indexOf("--cases") + 1]) || 10_000;
const seed = Number(args[args.indexOf("--seed") + 1]) || 1;
import { SAMPLES_DIR as dir } from "../lib/samples";
const inputs = readdirSync(dir).filter((f) => f.endsWith(".dcm")).map((f) => readFileSync(`${dir}/${f}`));
const r = rng(seed);
const store = new MemoryPseudonymStore();
const outcomes = new Map<string, number>();
const byMutation = new Map<string, number>();
let crashes = 0;
const t0 = Date.now();
for (let i = 0; i < cases; i++) {
  const { buf, kind } = mutate(inputs[Math.floor(r() * inputs.length)], r);
  byMutation.set(kind, (byMutation.get(kind) ?? 0) + 1);
  try {
    const o = await deidentify(buf, { projectId: "fuzz", store });
    const k = o.kind === "quarantined" ? `quarantined:${o.code}` : o.kind;
    outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
  } catch {
    crashes++;
  }
}
const secs = (Date.now() - t0) / 1000;
const rss = process.resourceUsage().maxRSS / 1024;
console.log(`fuzz: ${cases} cases (seed ${seed}) in ${secs.toFixed(1)} s, ${(cases / secs).toFixed(0)} cases/s, peak RSS ${rss.toFixed(0)} MB, crashes ${crashes}`);
console.log(`mutations: ${[...byMutation].map(([k, v]) => `${k} ${v}`).join(", ")}`);
console.log(`outcomes:  ${[...outcomes].sort().map(([k, v]) => `${k} ${v}`).join(", ")}`);
if (crashes || rss >= 300) process.exitCode = 1;
