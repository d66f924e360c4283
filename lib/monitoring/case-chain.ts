// A case's chain (issue #13): for one experiment, what happened to it from the first instance
// received to the end of its workflow — received, de-identified (and what was held or
// quarantined), archived, forwarded, each pipeline run, each task, the workflow's states, done —
// as one timeline with times and links. Pure: server/monitoring/case-chain.ts reads the facts; the
// experiment page (components/monitoring/CaseChain.tsx) draws it.
import { z } from "zod";
import { projectIdSchema } from "@/lib/projects";

export const caseChainInput = z.object({ projectId: projectIdSchema, experimentId: z.string().min(1).max(64) });

export type StepStatus = "done" | "active" | "waiting" | "failed";

export interface ChainStep {
  kind: "received" | "deidentified" | "archived" | "forwarded" | "run" | "task" | "workflow" | "done";
  title: string;
  detail: string;
  status: StepStatus;
  at: string | null;
  /** a portal path with more about the step */
  href: string | null;
}

export interface CaseFacts {
  projectId: string;
  experimentId: string;
  intake: {
    firstInstanceAt: Date;
    lastInstanceAt: Date;
    stableAt: Date | null;
    instances: Partial<Record<"received" | "deidentified" | "duplicate" | "skipped" | "quarantined" | "review", number>>;
    lastDeidentifiedAt: Date | null;
  } | null;
  archive: { state: string; targetKind: string; archivedAt: Date | null; archivedInstances: number; lastError: string | null; queuedAt: Date } | null;
  forwards: { destination: string; sent: number; failed: number; lastAt: Date | null }[];
  runs: { id: string; pipeline: string; state: string; createdAt: Date; endedAt: Date | null; error: string | null; startedBy: string }[];
  tasks: { id: string; number: number; template: string; kind: string; state: string; createdAt: Date; doneAt: Date | null; skipReason: string | null }[];
  workflow: { label: string; version: number; state: string | null; final: boolean; actions: { state: string; at: Date; cause: string }[] } | null;
}

const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

const RUN_STATUS: Record<string, StepStatus> = { queued: "waiting", running: "active", succeeded: "done", failed: "failed", cancelled: "failed" };
const TASK_STATUS: Record<string, StepStatus> = { queued: "waiting", locked: "active", submitted: "active", done: "done", skipped: "failed", aborted: "failed", cannot_be_done: "failed" };

/** The steps in time order (steps without a time keep their place after the timed ones before them). */
export function caseChain(f: CaseFacts): ChainStep[] {
  const p = encodeURIComponent(f.projectId);
  const steps: ChainStep[] = [];
  if (f.intake) {
    const n = f.intake.instances;
    const total = Object.values(n).reduce((a, b) => a + (b ?? 0), 0);
    steps.push({
      kind: "received",
      title: "Received",
      detail: `${plural(total, "instance")} between ${f.intake.firstInstanceAt.toISOString().slice(11, 19)} and ${f.intake.lastInstanceAt.toISOString().slice(11, 19)} UTC${f.intake.stableAt ? "; stable" : "; still receiving"}`,
      status: f.intake.stableAt ? "done" : "active",
      at: iso(f.intake.firstInstanceAt),
      href: `/projects/${p}?tab=intake`,
    });
    const held = (n.quarantined ?? 0) + (n.review ?? 0);
    const parts = [`${plural(n.deidentified ?? 0, "instance")} de-identified`];
    if (n.duplicate) parts.push(`${n.duplicate} duplicate`);
    if (n.skipped) parts.push(`${n.skipped} skipped by a rule`);
    if (n.review) parts.push(`${n.review} held for a pixel review`);
    if (n.quarantined) parts.push(`${n.quarantined} quarantined`);
    if (n.received) parts.push(`${n.received} waiting`);
    steps.push({
      kind: "deidentified",
      title: "De-identified",
      detail: parts.join(", "),
      status: n.received ? "active" : held ? "failed" : "done",
      at: iso(f.intake.lastDeidentifiedAt),
      href: held ? `/projects/${p}?tab=quarantine` : null,
    });
  }
  if (f.archive) {
    const a = f.archive;
    steps.push({
      kind: "archived",
      title: a.state === "archived" ? `Archived (${a.targetKind})` : `Archive: ${a.state}`,
      detail: a.state === "archived" ? `${plural(a.archivedInstances, "instance")} verified in the archive` : (a.lastError ?? `queued at ${a.queuedAt.toISOString()}`),
      status: a.state === "archived" ? "done" : a.state === "failed" ? "failed" : "active",
      at: iso(a.archivedAt ?? a.queuedAt),
      href: `/projects/${p}?tab=archive`,
    });
  }
  for (const fw of f.forwards)
    steps.push({
      kind: "forwarded",
      title: `Forwarded to ${fw.destination}`,
      detail: `${plural(fw.sent, "instance")} sent${fw.failed ? `, ${fw.failed} failed` : ""}`,
      status: fw.failed ? "failed" : "done",
      at: iso(fw.lastAt),
      href: `/projects/${p}?tab=forward`,
    });
  for (const r of f.runs)
    steps.push({
      kind: "run",
      title: `Pipeline ${r.pipeline}`,
      detail: `${r.state}${r.error ? `: ${r.error}` : ""}${r.startedBy.startsWith("governor:") ? " (started by the workflow)" : ""}`,
      status: RUN_STATUS[r.state] ?? "active",
      at: iso(r.createdAt),
      href: `/projects/${p}/runs/${r.id}`,
    });
  for (const t of f.tasks)
    steps.push({
      kind: "task",
      title: `${t.kind === "adjudication" ? "Adjudication" : "Task"} #${t.number} (${t.template})`,
      detail: `${t.state.replace(/_/g, " ")}${t.skipReason ? `: ${t.skipReason}` : ""}`,
      status: TASK_STATUS[t.state] ?? "active",
      at: iso(t.createdAt),
      href: `/tasks/${t.id}`,
    });
  if (f.workflow) {
    const w = f.workflow;
    for (const a of w.actions)
      steps.push({
        kind: "workflow",
        title: `Workflow: ${a.state}`,
        detail: `${w.label} v${w.version}, ${a.cause}`,
        status: a.state === w.state && !w.final ? "active" : "done",
        at: iso(a.at),
        href: `/projects/${p}/workflow/${f.experimentId}`,
      });
  }
  const timed = steps.map((s, i) => ({ s, i, t: s.at ? Date.parse(s.at) : null }));
  // Stable order: by time; an untimed step stays right after the step before it.
  let last = 0;
  const keyed = timed.map((x) => {
    if (x.t !== null) last = x.t;
    return { ...x, k: x.t ?? last };
  });
  keyed.sort((a, b) => a.k - b.k || a.i - b.i);
  const out = keyed.map((x) => x.s);
  if (f.workflow?.final && f.workflow.state) {
    const lastAction = f.workflow.actions[f.workflow.actions.length - 1];
    out.push({ kind: "done", title: "Done", detail: `the workflow ended in '${f.workflow.state}'`, status: "done", at: iso(lastAction?.at), href: `/projects/${p}/workflow/${f.experimentId}` });
  }
  return out;
}
