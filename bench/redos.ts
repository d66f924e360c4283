// Benchmark (issue #17 §2): the worst pattern/value pairs for a backtracking engine, timed before
// (V8's RegExp, as routing rules and CTP scripts ran until now) and after (RE2 through
// lib/regex, as they run now), in the same run. The V8 side uses short values so that it
// finishes; the RE2 side runs the same values and then ones thousands of times as long.
// Each V8 time is extrapolated to the 48- and 64-character values a DICOM UID can reach
// (V8's time grows by a constant factor per character; the factor is measured here).
//   npx tsx bench/redos.ts [--max-ms 3000]
import { loadavg } from "node:os";
import { compilePattern } from "../lib/regex";
import { compileRule } from "../lib/intake/rules";
import { lookupKeyword } from "../lib/dicom/dictionary";

const args = process.argv.slice(2);
const maxMs = args.includes("--max-ms") ? Number(args[args.indexOf("--max-ms") + 1]) : 3_000;

interface Case {
  name: string;
  pattern: string;
  /** The value of length n that makes a backtracking engine fail slowly. */
  value: (n: number) => string;
}

const CASES: Case[] = [
  { name: "issue example", pattern: "^(1+)+$", value: (n) => `${"1".repeat(n - 1)}!` },
  { name: "UID-like", pattern: String.raw`^(\d+\.?)+$`, value: (n) => `1.2.840.113619.2.55.3.6041318${"1".repeat(Math.max(0, n - 30))}!`.slice(-n) },
  { name: "nested alternation", pattern: "^(a|a)*$", value: (n) => `${"a".repeat(n - 1)}!` },
  { name: "overlapping words", pattern: String.raw`^(\w+\s?)*$`, value: (n) => `${"word ".repeat(Math.ceil(n / 5)).slice(0, n - 1)}!` },
];

function time(f: () => unknown, minMs = 20): number {
  // Repeat quick calls so the figure is not timer noise.
  let reps = 0;
  const t0 = performance.now();
  let t = t0;
  do {
    f();
    reps++;
    t = performance.now();
  } while (t - t0 < minMs && reps < 100_000);
  return (t - t0) / reps;
}

function fmt(ms: number): string {
  if (!Number.isFinite(ms)) return "n/a";
  const s = ms / 1000;
  if (s >= 86_400 * 365) return `${(s / (86_400 * 365)).toPrecision(3)} years`;
  if (s >= 86_400) return `${(s / 86_400).toFixed(1)} days`;
  if (s >= 3600) return `${(s / 3600).toFixed(1)} h`;
  if (s >= 1) return `${s.toFixed(2)} s`;
  return ms >= 1 ? `${ms.toFixed(1)} ms` : `${(ms * 1000).toFixed(1)} µs`;
}

console.log(`load average before: ${loadavg().map((x) => x.toFixed(2)).join(" ")}`);
console.log(`V8 side stops growing a value once one match takes more than ${maxMs} ms.\n`);

let worstV8 = { ms: 0, label: "" };
let worstRe2 = { ms: 0, label: "" };
for (const c of CASES) {
  const v8 = new RegExp(c.pattern);
  const re2 = compilePattern(c.pattern);
  // V8: grow the value until one match takes longer than maxMs (or 40 characters).
  let n = 12;
  let last = { n: 0, ms: 0 };
  let prev = { n: 0, ms: 0 };
  for (; n <= 40; n += 2) {
    const v = c.value(n);
    const t = performance.now();
    v8.test(v);
    const ms = performance.now() - t;
    prev = last;
    last = { n: v.length, ms };
    if (ms > maxMs) break;
  }
  const factor = prev.ms > 1 ? (last.ms / prev.ms) ** (1 / Math.max(1, last.n - prev.n)) : NaN;
  const at = (len: number) => (Number.isFinite(factor) ? last.ms * factor ** (len - last.n) : NaN);
  const re2Same = time(() => re2.test(c.value(last.n)));
  const longN = 100_000;
  const longValue = c.value(longN);
  const re2Long = time(() => re2.test(longValue));
  console.log(`${c.name}: /${c.pattern}/`);
  console.log(`  before (V8 RegExp), ${last.n}-char value: ${fmt(last.ms)}  (x${factor.toFixed(2)} per character; extrapolated: 48 chars ${fmt(at(48))}, 64 chars ${fmt(at(64))})`);
  console.log(`  after  (RE2),       ${last.n}-char value: ${fmt(re2Same)}   ${longValue.length}-char value: ${fmt(re2Long)}`);
  if (last.ms > worstV8.ms) worstV8 = { ms: last.ms, label: `${c.name}, ${last.n} chars` };
  if (re2Long > worstRe2.ms) worstRe2 = { ms: re2Long, label: `${c.name}, ${longValue.length} chars` };
}

// Through the routing-rules engine, as an instance's header is matched.
const tag = lookupKeyword("SOPInstanceUID")!.tag;
const rule = compileRule(String.raw`SOPInstanceUID ~ /^(\d+\.?)+$/`);
const uid48 = `1.2.840.113619.2.55.3.6041318${"1".repeat(18)}!`;
const ruleMs = time(() => rule.matches((t) => (t === tag ? uid48 : undefined)));
console.log(`\nrouting rule SOPInstanceUID ~ /^(\\d+\\.?)+$/ on a ${uid48.length}-char UID-like value (RE2): ${fmt(ruleMs)} per instance`);

console.log(`\nworst before (V8): ${fmt(worstV8.ms)} (${worstV8.label}); worst after (RE2): ${fmt(worstRe2.ms)} (${worstRe2.label})`);
console.log(`load average after: ${loadavg().map((x) => x.toFixed(2)).join(" ")}`);
