// Storing what fastr's PIM reporter sends (issue #13): registrations become ReportedRun rows with
// their flattened graph, job-update batches are checked whole and then merged per job path under a
// lock on the run, so concurrent or re-sent batches cannot interleave half-applied.
import { isDeepStrictEqual } from "node:util";
import type { Prisma, PrismaClient } from "@/server/db/generated/client";
import { checkBatch, flattenGraph, mergeUpdate, MASTER_PATH, nodeOfJob, runStateOf, type JobRecord, type PimJobUpdate, type PimProblem, type PimRun, type RunGraph } from "@/lib/pim/protocol";
import { childLog } from "@/lib/log";

const log = childLog("pim");

export type RegisterOutcome = { kind: "created" | "same"; id: string } | { kind: "conflict"; message: string };

/** Registers a run; the same registration again is accepted (a re-sent POST), a different graph under the same id is a conflict. */
export async function registerRun(prisma: PrismaClient, projectId: string, tokenId: string | null, run: PimRun): Promise<RegisterOutcome> {
  const graph = flattenGraph(run);
  const statusTitles = run.statusTypes.map((s) => s.title);
  const existing = await prisma.reportedRun.findUnique({ where: { projectId_runName: { projectId, runName: run.title } }, select: { id: true, graph: true } });
  if (existing) {
    // jsonb keeps its own key order: compare as values, not as text.
    if (isDeepStrictEqual(existing.graph, JSON.parse(JSON.stringify(graph)))) return { kind: "same", id: existing.id };
    return { kind: "conflict", message: `A run "${run.title}" is already registered in this project with a different network. fastr run ids are unique; re-run the network to get a new one.` };
  }
  const created = await prisma.reportedRun.create({
    data: {
      projectId,
      runName: run.title,
      network: run.root.title || run.root.name,
      reportedBy: run.user ?? null,
      description: run.description ?? null,
      graph: graph as unknown as Prisma.InputJsonValue,
      statusTitles,
      customData: (run.customData ?? {}) as Prisma.InputJsonValue,
      tokenId,
    },
    select: { id: true },
  });
  log.info({ projectId, runId: created.id, nodes: graph.nodes.length, links: graph.links.length }, "external run registered");
  return { kind: "created", id: created.id };
}

export type BatchOutcome =
  | { kind: "ok"; applied: number; ignoredRegressions: number }
  | { kind: "not-found"; message: string }
  | { kind: "invalid"; message: string; problems: PimProblem[] };

/** Applies a batch of job updates to a run, all or nothing. */
export async function applyJobUpdates(prisma: PrismaClient, projectId: string, runName: string, batch: PimJobUpdate[], now = new Date()): Promise<BatchOutcome> {
  return prisma.$transaction(
    async (tx) => {
      const rows = await tx.$queryRaw<{ id: string }[]>`SELECT id FROM "ReportedRun" WHERE "projectId" = ${projectId} AND "runName" = ${runName} FOR UPDATE`;
      const id = rows[0]?.id;
      if (!id) {
        return { kind: "not-found", message: `No run "${runName}" is registered in this project. fastr registers a run (POST /api/runs/) before it sends job updates; check that the registration succeeded.` } as const;
      }
      const run = await tx.reportedRun.findUniqueOrThrow({ where: { id }, select: { graph: true, statusTitles: true, droppedLogRecords: true } });
      const graph = run.graph as unknown as RunGraph;
      const problems = checkBatch(graph, run.statusTitles.length, batch);
      if (problems.length) {
        return { kind: "invalid", problems, message: `${problems.length} of ${batch.length} job updates cannot be applied; nothing was stored. First: update ${problems[0]!.index} (${problems[0]!.path ?? "?"}): ${problems[0]!.message}.` } as const;
      }
      const paths = [...new Set(batch.map((u) => u.path))];
      const existing = await tx.reportedJob.findMany({ where: { runId: id, path: { in: paths } } });
      const records = new Map<string, JobRecord>(
        existing.map((j) => [
          j.path,
          {
            status: j.status,
            customData: j.customData as Record<string, unknown>,
            log: j.log as Record<string, unknown>,
            startedAt: j.startedAt?.getTime() ?? null,
            finishedAt: j.finishedAt?.getTime() ?? null,
          },
        ]),
      );
      let regressions = 0;
      let dropped = 0;
      for (const update of batch) {
        const outcome = mergeUpdate(records.get(update.path) ?? null, update, run.statusTitles, now.getTime());
        records.set(update.path, outcome.record);
        if (outcome.regressed) regressions++;
        dropped += outcome.droppedLogRecords;
      }
      const known = new Set(existing.map((j) => j.path));
      const toRow = (path: string, r: JobRecord) => ({
        status: r.status,
        customData: r.customData as Prisma.InputJsonValue,
        log: r.log as Prisma.InputJsonValue,
        startedAt: r.startedAt === null ? null : new Date(r.startedAt),
        finishedAt: r.finishedAt === null ? null : new Date(r.finishedAt),
        nodePath: path === MASTER_PATH ? null : nodeOfJob(graph, path),
      });
      const fresh = paths.filter((p) => !known.has(p));
      if (fresh.length) await tx.reportedJob.createMany({ data: fresh.map((path) => ({ runId: id, path, ...toRow(path, records.get(path)!) })) });
      for (const path of paths.filter((p) => known.has(p))) {
        await tx.reportedJob.update({ where: { runId_path: { runId: id, path } }, data: toRow(path, records.get(path)!) });
      }
      const master = records.get(MASTER_PATH);
      const runData: Prisma.ReportedRunUpdateInput = { updatedAt: now };
      if (master && batch.some((u) => u.path === MASTER_PATH && u.status !== undefined)) {
        const state = runStateOf(master.status, run.statusTitles);
        runData.state = state;
        runData.finishedAt = state === "success" || state === "failed" || state === "cancelled" ? now : null;
      }
      if (dropped) runData.droppedLogRecords = run.droppedLogRecords + dropped;
      await tx.reportedRun.update({ where: { id }, data: runData });
      return { kind: "ok", applied: batch.length, ignoredRegressions: regressions } as const;
    },
    { timeout: 30_000 },
  );
}
