// A run's changes pushed to its open pages (issue #13): the run page subscribes, and refetches the
// run when its version moves. The version is the run's state and last update with its jobs' count
// and last update: every change of a run or job goes through Prisma, which sets `updatedAt`.
import type { PrismaClient } from "@/server/db/generated/client";
import { sqlRows } from "@/server/db";
import { ChangeWatch } from "@/lib/monitoring/change-watch";

/** How often a watched run's version is read (one query per run, whatever the number of pages). */
export const RUN_WATCH_INTERVAL_MS = 250;
/** …and once the run has ended (a page left open on a finished run; a re-run is seen within this). */
export const ENDED_RUN_WATCH_INTERVAL_MS = 2_000;
const ENDED = /^(succeeded|failed|cancelled|success|finished)\|/;
const runInterval = (last: string | null | undefined) => (last && ENDED.test(last) ? ENDED_RUN_WATCH_INTERVAL_MS : RUN_WATCH_INTERVAL_MS);

const watches = new WeakMap<PrismaClient, ChangeWatch>();
function watchOf(prisma: PrismaClient) {
  let w = watches.get(prisma);
  if (!w) watches.set(prisma, (w = new ChangeWatch(runInterval)));
  return w;
}

const VERSION = (run: string, job: string) => `
  SELECT r.state::text || '|' || to_char(r."updatedAt", 'YYYYMMDDHH24MISSUS') || '|' ||
         (SELECT count(*) || '|' || coalesce(to_char(max(j."updatedAt"), 'YYYYMMDDHH24MISSUS'), '') FROM "${job}" j WHERE j."runId" = r.id) AS v
  FROM "${run}" r WHERE r.id = $1 AND r."projectId" = $2`;

function versionReader(prisma: PrismaClient, run: string, job: string, projectId: string, runId: string) {
  const text = VERSION(run, job);
  return async () => (await sqlRows<{ v: string }>(prisma, text, [runId, projectId]))[0]?.v ?? null;
}

export type RunChange = { version: string | null };

async function* changes(prisma: PrismaClient, kind: string, read: () => Promise<string | null>, key: string, signal?: AbortSignal): AsyncGenerator<RunChange> {
  for await (const version of watchOf(prisma).watch(`${kind}:${key}`, read, signal)) yield { version };
}

/** An Atrium run's versions: the current one, then each change, until the page goes (null: the run is gone). */
export function pipelineRunChanges(prisma: PrismaClient, projectId: string, runId: string, signal?: AbortSignal) {
  return changes(prisma, "pipeline", versionReader(prisma, "PipelineRun", "PipelineJob", projectId, runId), `${projectId}:${runId}`, signal);
}

/** The same for a run reported through /pim. */
export function reportedRunChanges(prisma: PrismaClient, projectId: string, runId: string, signal?: AbortSignal) {
  return changes(prisma, "reported", versionReader(prisma, "ReportedRun", "ReportedJob", projectId, runId), `${projectId}:${runId}`, signal);
}
