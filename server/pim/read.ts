// Reading reported runs for the portal and the CLI: the list with job counts by state, one run with
// its graph and per-node counts, one job with its process info and log.
import { z } from "zod";
import type { Prisma, PrismaClient } from "@/server/db/generated/client";
import { isJobNode, MASTER_PATH, type RunGraph } from "@/lib/pim/protocol";
import { projectRef } from "@/lib/projects";

export const REPORTED_RUN_STATES = ["registered", "running", "success", "failed", "cancelled"] as const;

export const reportedRunsInput = projectRef.extend({
  state: z.enum(REPORTED_RUN_STATES).optional(),
  search: z.string().trim().max(200).optional(),
  cursor: z.string().max(100).optional(),
  limit: z.number().int().min(1).max(200).default(50),
});
export const reportedRunInput = projectRef.extend({ runId: z.string().min(1).max(100) });
export const reportedJobInput = reportedRunInput.extend({ path: z.string().min(1).max(2_000) });

/** Job counts by status title for each of `runIds` (root/master excluded). */
async function countsByRun(prisma: PrismaClient, runIds: string[], titles: Map<string, string[]>) {
  const groups = runIds.length
    ? await prisma.reportedJob.groupBy({ by: ["runId", "status"], where: { runId: { in: runIds }, NOT: { path: MASTER_PATH } }, _count: { _all: true } })
    : [];
  const out = new Map<string, Record<string, number>>();
  for (const g of groups) {
    const t = g.status === null ? "undefined" : (titles.get(g.runId)?.[g.status] ?? "undefined");
    const c = out.get(g.runId) ?? {};
    c[t] = (c[t] ?? 0) + g._count._all;
    out.set(g.runId, c);
  }
  return out;
}

export async function listReportedRuns(prisma: PrismaClient, input: z.infer<typeof reportedRunsInput>) {
  const where: Prisma.ReportedRunWhereInput = {
    projectId: input.projectId,
    ...(input.state ? { state: input.state } : {}),
    ...(input.search ? { OR: [{ runName: { contains: input.search, mode: "insensitive" } }, { network: { contains: input.search, mode: "insensitive" } }] } : {}),
  };
  const [total, rows] = await Promise.all([
    prisma.reportedRun.count({ where }),
    prisma.reportedRun.findMany({
      where,
      orderBy: [{ registeredAt: "desc" }, { id: "desc" }],
      take: input.limit + 1,
      ...(input.cursor ? { cursor: { id: input.cursor }, skip: 1 } : {}),
      select: { id: true, runName: true, network: true, reportedBy: true, state: true, statusTitles: true, registeredAt: true, updatedAt: true, finishedAt: true },
    }),
  ]);
  const page = rows.slice(0, input.limit);
  const counts = await countsByRun(prisma, page.map((r) => r.id), new Map(page.map((r) => [r.id, r.statusTitles])));
  return {
    total,
    nextCursor: rows.length > input.limit ? page[page.length - 1]!.id : null,
    items: page.map(({ statusTitles: _t, ...r }) => ({ ...r, origin: "external" as const, jobs: counts.get(r.id) ?? {} })),
  };
}

export async function getReportedRun(prisma: PrismaClient, projectId: string, runId: string) {
  const run = await prisma.reportedRun.findFirst({ where: { id: runId, projectId } });
  if (!run) return null;
  const graph = run.graph as unknown as RunGraph;
  const [perNode, jobs, master] = await Promise.all([
    prisma.reportedJob.groupBy({ by: ["nodePath", "status"], where: { runId: run.id, NOT: { path: MASTER_PATH } }, _count: { _all: true } }),
    prisma.reportedJob.findMany({
      where: { runId: run.id, NOT: { path: MASTER_PATH } },
      orderBy: { path: "asc" },
      take: 2_000,
      select: { path: true, nodePath: true, status: true, startedAt: true, finishedAt: true, customData: true },
    }),
    prisma.reportedJob.findUnique({ where: { runId_path: { runId: run.id, path: MASTER_PATH } }, select: { log: true } }),
  ]);
  const title = (s: number | null) => (s === null ? "undefined" : (run.statusTitles[s] ?? "undefined"));
  const nodeCounts: Record<string, Record<string, number>> = {};
  for (const g of perNode) {
    const key = g.nodePath ?? "";
    nodeCounts[key] = nodeCounts[key] ?? {};
    nodeCounts[key]![title(g.status)] = (nodeCounts[key]![title(g.status)] ?? 0) + g._count._all;
  }
  const failedLine = run.state === "failed" ? await firstFailure(prisma, run.id, run.statusTitles) : null;
  return {
    id: run.id,
    runName: run.runName,
    network: run.network,
    reportedBy: run.reportedBy,
    description: run.description,
    origin: "external" as const,
    state: run.state,
    registeredAt: run.registeredAt,
    updatedAt: run.updatedAt,
    finishedAt: run.finishedAt,
    failure: failedLine,
    customData: run.customData,
    graph: { nodes: graph.nodes.map((n) => ({ ...n, jobBearing: isJobNode(n), jobs: nodeCounts[n.path] ?? {} })), links: graph.links },
    jobs: jobs.map((j) => {
      const c = j.customData as Record<string, unknown>;
      return { path: j.path, node: j.nodePath, state: title(j.status), sample: Array.isArray(c.sample_id) ? c.sample_id.join(",") : null, startedAt: j.startedAt, finishedAt: j.finishedAt };
    }),
    log: logLines((master?.log ?? {}) as Record<string, unknown>),
  };
}

/** "add (sample s2): AddInt exited with 1" for the first failed job, so a failed run says why in one line. */
async function firstFailure(prisma: PrismaClient, runId: string, titles: string[]): Promise<string | null> {
  const failedIndex = titles.indexOf("failed");
  if (failedIndex < 0) return null;
  const j = await prisma.reportedJob.findFirst({ where: { runId, status: failedIndex, NOT: { path: MASTER_PATH } }, orderBy: { finishedAt: "asc" }, select: { nodePath: true, customData: true } });
  if (!j) return "the run reported failure";
  const c = j.customData as Record<string, unknown>;
  const errors = Array.isArray(c.errors) ? (c.errors as unknown[][]) : [];
  const first = errors[0];
  const reason = first ? `${String(first[0])}: ${String(first[1])}` : typeof c.returncode === "number" ? `exit code ${c.returncode}` : "failed";
  const sample = Array.isArray(c.sample_id) ? ` (sample ${c.sample_id.join(",")})` : "";
  return `${(j.nodePath ?? "?").replace(/^root\//, "")}${sample}: ${reason}`;
}

export function logLines(log: Record<string, unknown>) {
  return Object.keys(log)
    .sort()
    .map((time) => {
      const r = (log[time] ?? {}) as Record<string, unknown>;
      return { time, level: String(r.level_name ?? ""), message: String(r.message ?? ""), module: r.module ? String(r.module) : null };
    });
}

export async function getReportedJob(prisma: PrismaClient, projectId: string, runId: string, path: string) {
  const run = await prisma.reportedRun.findFirst({ where: { id: runId, projectId }, select: { id: true, statusTitles: true } });
  if (!run) return null;
  const j = await prisma.reportedJob.findUnique({ where: { runId_path: { runId: run.id, path } } });
  if (!j) return null;
  const { __stdout__, __stderr__, ...rest } = j.customData as Record<string, unknown>;
  return {
    path: j.path,
    node: j.nodePath,
    state: j.status === null ? "undefined" : (run.statusTitles[j.status] ?? "undefined"),
    startedAt: j.startedAt,
    finishedAt: j.finishedAt,
    stdout: typeof __stdout__ === "string" ? __stdout__ : null,
    stderr: typeof __stderr__ === "string" ? __stderr__ : null,
    details: rest,
    log: logLines(j.log as Record<string, unknown>),
  };
}
