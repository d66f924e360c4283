// Finding a finished job's outputs: a path template or a glob inside the job's directory, or a key
// of the last JSON object the tool printed on stdout (the last line of its log that parses as one).
import { readdir, stat } from "node:fs/promises";
import path from "node:path";
import type { Scalar, ToolDefinition } from "./schema";

export type FoundOutput = { files: string[] } | { value: Scalar | Scalar[] };

export class OutputError extends Error {
  override readonly name = "OutputError";
}

/** Glob with *, ? and ** per path segment (relative to `root`), sorted. */
export async function globFiles(root: string, pattern: string): Promise<string[]> {
  const parts = pattern.split("/").filter(Boolean);
  const toRe = (p: string) => new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*").replace(/\?/g, "[^/]")}$`);
  const out: string[] = [];
  const walk = async (dir: string, i: number): Promise<void> => {
    if (i === parts.length) {
      if ((await stat(dir).catch(() => null))?.isFile() || (await stat(dir).catch(() => null))?.isDirectory()) out.push(dir);
      return;
    }
    const part = parts[i]!;
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    if (part === "**") {
      await walk(dir, i + 1);
      for (const e of entries) if (e.isDirectory()) await walk(path.join(dir, e.name), i);
      return;
    }
    const re = toRe(part);
    for (const e of entries) if (re.test(e.name)) await walk(path.join(dir, e.name), i + 1);
  };
  await walk(root, 0);
  return out.sort();
}

/** The last line of `log` that is a JSON object. */
export function lastJsonObject(log: string): Record<string, unknown> | null {
  const lines = log.split("\n");
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = lines[i]!.trim();
    if (!l.startsWith("{")) continue;
    try {
      const v = JSON.parse(l) as unknown;
      if (v && typeof v === "object" && !Array.isArray(v)) return v as Record<string, unknown>;
    } catch {
      /* not JSON */
    }
  }
  return null;
}

/**
 * The outputs of a finished job. `logTail` is the end of its log (stdout and stderr). A required
 * output that is not there is an error that names it and says where it was looked for.
 */
export async function discoverOutputs(tool: ToolDefinition, workDir: string, logTail: string, fill: (template: string) => string): Promise<Record<string, FoundOutput>> {
  const found: Record<string, FoundOutput> = {};
  const json = tool.outputs.some((o) => "stdout" in o.find) ? lastJsonObject(logTail) : null;
  const missing: string[] = [];
  for (const o of tool.outputs) {
    if ("stdout" in o.find) {
      const v = json?.[o.find.stdout];
      const ok = v !== undefined && v !== null && (o.list ? Array.isArray(v) : ["string", "number", "boolean"].includes(typeof v));
      if (!ok) {
        if (!o.optional) missing.push(`"${o.id}" (key "${o.find.stdout}" of the JSON object printed last on stdout${json ? "" : "; none was printed"})`);
        continue;
      }
      found[o.id] = { value: v as Scalar | Scalar[] };
      continue;
    }
    const rel = fill("path" in o.find ? o.find.path : o.find.glob);
    const files = "path" in o.find ? ((await stat(path.join(workDir, rel)).catch(() => null)) ? [path.join(workDir, rel)] : []) : await globFiles(workDir, rel);
    if (!files.length || (!o.list && files.length > 1)) {
      if (!o.optional) missing.push(files.length ? `"${o.id}" (${files.length} files match ${rel}; one was expected)` : `"${o.id}" (nothing at ${rel})`);
      continue;
    }
    found[o.id] = { files };
  }
  if (missing.length) throw new OutputError(`The tool ${tool.id} ended without writing output ${missing.join(", ")}; see the job's log.`);
  return found;
}
