import { isDeepStrictEqual } from "node:util";
// Registered tools and pipelines: versioned definitions per site ("site") or per project. A tool or
// pipeline is registered from its text (YAML or JSON) and validated first; problems come back with
// their line, node and link. A pipeline pins the tool version of each node at registration, so a
// later tool version does not change what an existing pipeline version runs.
import { accessSync, constants, existsSync, readFileSync } from "node:fs";
import { hostname } from "node:os";
import path from "node:path";
import type { PrismaClient, Pipeline, PipelineTool } from "@/server/db/generated/client";
import { parsePipelineText, parseToolText, type DefinitionProblem } from "@/lib/pipelines/document";
import { analyzePipeline, compareVersions, toolCatalog, validateTool, type AnalyzedPipeline } from "@/lib/pipelines/validate";
import { pipelineSchema, toolSchema, type PipelineDefinition, type ToolDefinition } from "@/lib/pipelines/schema";

export class PipelineRegistryError extends Error {
  override readonly name = "PipelineRegistryError";
  constructor(
    message: string,
    readonly problems: DefinitionProblem[] = [],
  ) {
    super(message);
  }
}

export type Scope = { kind: "site" } | { kind: "project"; projectId: string };
const scopeKey = (s: Scope) => (s.kind === "site" ? "site" : s.projectId);

/** Binaries a tool needs that are not on this host's PATH. */
export function missingBinaries(tool: ToolDefinition, envPath = process.env.PATH ?? ""): string[] {
  const executable = (p: string) => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  return tool.requires.binaries.filter((b) => !(b.includes("/") ? executable(b) : envPath.split(":").some((dir) => dir && executable(path.join(dir, b)))));
}

/** Site tools and the project's tools (a project's own version of a tool id@version wins). */
export async function toolsFor(prisma: PrismaClient, projectId: string | null): Promise<ToolDefinition[]> {
  const rows = await prisma.pipelineTool.findMany({ where: { scope: { in: projectId ? [projectId, "site"] : ["site"] } }, orderBy: { createdAt: "asc" } });
  rows.sort((a, b) => (a.scope === "site" ? 1 : 0) - (b.scope === "site" ? 1 : 0));
  return rows.map((r) => toolSchema.parse(r.definition));
}

function sameJson(stored: unknown, given: unknown): boolean {
  return isDeepStrictEqual(stored, JSON.parse(JSON.stringify(given)));
}

export async function registerTool(prisma: PrismaClient, scope: Scope, text: string, createdById: string | null): Promise<{ row: PipelineTool; created: boolean; warnings: string[] }> {
  const parsed = parseToolText(text);
  if (!parsed.ok) throw new PipelineRegistryError("The tool definition has problems.", parsed.problems);
  const problems = validateTool(parsed.value, parsed.source);
  if (problems.length) throw new PipelineRegistryError("The tool definition has problems.", problems);
  const tool = parsed.value;
  const key = scopeKey(scope);
  const existing = await prisma.pipelineTool.findUnique({ where: { scope_toolId_version: { scope: key, toolId: tool.id, version: tool.version } } });
  const missing = missingBinaries(tool);
  const warnings = missing.length ? [`Not installed on this host (${hostName()}): ${missing.join(", ")}. Jobs of this tool fail until it is installed where they run.`] : [];
  if (existing) {
    // jsonb keeps its own key order: compare as values, not as text.
    if (sameJson(existing.definition, tool)) return { row: existing, created: false, warnings };
    throw new PipelineRegistryError(`Tool ${tool.id} version ${tool.version} is registered already with a different definition: give this one a new version.`);
  }
  const row = await prisma.pipelineTool.create({
    data: { scope: key, projectId: scope.kind === "project" ? scope.projectId : null, toolId: tool.id, version: tool.version, definition: tool as object, sourceText: text, createdById },
  });
  return { row, created: true, warnings };
}

export async function registerPipeline(prisma: PrismaClient, scope: Scope, text: string, createdById: string | null): Promise<{ row: Pipeline; created: boolean }> {
  const parsed = parsePipelineText(text);
  if (!parsed.ok) throw new PipelineRegistryError("The pipeline definition has problems.", parsed.problems);
  const def = parsed.value;
  const catalog = toolCatalog(await toolsFor(prisma, scope.kind === "project" ? scope.projectId : null));
  const { problems, analyzed } = analyzePipeline(def, catalog, parsed.source);
  if (!analyzed) throw new PipelineRegistryError("The pipeline definition has problems.", problems);
  const toolVersions = Object.fromEntries(Object.values(analyzed.nodes).map((n) => [n.id, n.tool.version]));
  const key = scopeKey(scope);
  const existing = await prisma.pipeline.findUnique({ where: { scope_pipelineId_version: { scope: key, pipelineId: def.id, version: def.version } } });
  if (existing) {
    if (sameJson(existing.definition, def) && sameJson(existing.toolVersions, toolVersions)) return { row: existing, created: false };
    throw new PipelineRegistryError(`Pipeline ${def.id} version ${def.version} is registered already with a different definition: give this one a new version.`);
  }
  const row = await prisma.pipeline.create({
    data: { scope: key, projectId: scope.kind === "project" ? scope.projectId : null, pipelineId: def.id, version: def.version, name: def.name ?? null, definition: def as object, sourceText: text, toolVersions, createdById },
  });
  return { row, created: true };
}

/** The pipeline a project may run by id (or database row id), its latest version unless one is given; the project's own before the site's. */
export async function findPipeline(prisma: PrismaClient, projectId: string, ref: string, version?: string): Promise<Pipeline> {
  const rows = await prisma.pipeline.findMany({ where: { OR: [{ id: ref }, { pipelineId: ref }], scope: { in: [projectId, "site"] }, ...(version ? { version } : {}) } });
  if (!rows.length) {
    const known = await prisma.pipeline.findMany({ where: { scope: { in: [projectId, "site"] } }, select: { pipelineId: true }, distinct: ["pipelineId"] });
    throw new PipelineRegistryError(`No pipeline "${ref}"${version ? ` version ${version}` : ""} in project ${projectId}. ${known.length ? `Registered: ${known.map((k) => k.pipelineId).join(", ")}.` : "None is registered yet."}`);
  }
  rows.sort((a, b) => (a.scope === "site" ? 1 : 0) - (b.scope === "site" ? 1 : 0) || compareVersions(b.version, a.version));
  return rows[0]!;
}

/** A stored pipeline analyzed against its pinned tool versions (cached per row: a registered version and its pinned tools never change). */
const analyzedCache = new Map<string, AnalyzedPipeline>();
export async function analyzeStored(prisma: PrismaClient, row: Pipeline): Promise<AnalyzedPipeline> {
  const hit = analyzedCache.get(row.id);
  if (hit) return hit;
  const analyzed = await analyzeUncached(prisma, row);
  if (analyzedCache.size > 500) analyzedCache.clear();
  analyzedCache.set(row.id, analyzed);
  return analyzed;
}

/** The same by the pipeline row's id: a registered version never changes, so a cached analysis needs no query. */
export async function analyzeStoredById(prisma: PrismaClient, rowId: string): Promise<AnalyzedPipeline> {
  return analyzedCache.get(rowId) ?? analyzeStored(prisma, await prisma.pipeline.findUniqueOrThrow({ where: { id: rowId } }));
}

async function analyzeUncached(prisma: PrismaClient, row: Pipeline): Promise<AnalyzedPipeline> {
  const def: PipelineDefinition = pipelineSchema.parse(row.definition);
  const pins = row.toolVersions as Record<string, string>;
  for (const [id, n] of Object.entries(def.nodes)) if (pins[id]) n.version = pins[id];
  const { problems, analyzed } = analyzePipeline(def, toolCatalog(await toolsFor(prisma, row.projectId)));
  if (!analyzed) throw new PipelineRegistryError(`Pipeline ${row.pipelineId} version ${row.version} no longer validates against its tools: ${problems.map((p) => p.message).join("; ")}`, problems);
  return analyzed;
}

const hostName = () => hostname();

/** The shipped examples' definition texts (lib/pipelines/examples), with the statistics script's absolute path filled in. */
export function examplesDir(): string {
  const candidates = [process.env.ATRIUM_PIPELINE_EXAMPLES, path.resolve("lib/pipelines/examples")].filter((c): c is string => Boolean(c));
  const found = candidates.find((c) => existsSync(path.join(c, "dicom-stats.pipeline.yaml")));
  if (!found) throw new PipelineRegistryError(`The example pipelines are not found (looked in ${candidates.join(", ")}): run Atrium from its checkout, or set ATRIUM_PIPELINE_EXAMPLES to lib/pipelines/examples.`);
  return found;
}

export function exampleDefinitions(dir = examplesDir()): { tools: string[]; pipelines: string[] } {
  const read = (f: string) => readFileSync(path.join(dir, f), "utf8");
  const stats = read("nifti-stats.tool.yaml").replace("default: lib/pipelines/examples/nifti-stats.mjs", `default: ${JSON.stringify(path.join(dir, "nifti-stats.mjs"))}`);
  return {
    tools: [read("dcm2niix.tool.yaml"), stats, read("subject-summary.tool.yaml")],
    pipelines: [read("dicom-stats.pipeline.yaml"), read("subject-summary.pipeline.yaml")],
  };
}

/**
 * The default workflow's processing pipeline (default_processing: dicom-info per series, Node only),
 * registered in a project the first time it is asked for (idempotent).
 */
export async function registerDefaultProcessing(prisma: PrismaClient, projectId: string, dir = examplesDir()) {
  const read = (f: string) => readFileSync(path.join(dir, f), "utf8");
  const tool = read("dicom-info.tool.yaml").replace("default: lib/pipelines/examples/dicom-info.mjs", `default: ${JSON.stringify(path.join(dir, "dicom-info.mjs"))}`);
  await registerTool(prisma, { kind: "project", projectId }, tool, null);
  return (await registerPipeline(prisma, { kind: "project", projectId }, read("default-processing.pipeline.yaml"), null)).row;
}

/** Registers the shipped examples in a project (idempotent): dicom-stats and subject-summary. */
export async function registerExamples(prisma: PrismaClient, projectId: string, dir?: string) {
  const ex = exampleDefinitions(dir);
  for (const t of ex.tools) await registerTool(prisma, { kind: "project", projectId }, t, null);
  const out: Pipeline[] = [];
  for (const p of ex.pipelines) out.push((await registerPipeline(prisma, { kind: "project", projectId }, p, null)).row);
  return out;
}
