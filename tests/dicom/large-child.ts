// Child process of large.test.ts: de-identifies one file and reports the outcome and its own peak RSS.
import { processFile, buildConfig, MemoryPseudonymStore } from "@/lib/dicom/batch";

const [input, outDir] = process.argv.slice(2) as [string, string];
const result = await processFile(input, outDir, buildConfig({ projectId: "LARGE", salt: "s" }, new MemoryPseudonymStore()));
console.log(JSON.stringify({ kind: result.kind, code: result.code ?? null, maxRssMB: process.resourceUsage().maxRSS / 1024 }));
