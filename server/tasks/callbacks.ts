// Task callbacks (issue #14, TaskManager semantics): a task set done with a callback_url calls it
// with its callback_content (PUT, JSON); a task group with a callback calls it once when all its
// tasks are done. Unlike the original, a failed call is retried (1, 5, 15, 60 minutes, then every
// 6 hours, 12 attempts in all): each call is a TaskCallback row, delivered at once and again by
// the workers' sweep (deliverDueCallbacks) until it answers 2xx.
//
// A callback to this Atrium's own Study Governor protocol (<public URL>/api/v2/callback_executions/
// {id}) is applied in-process with the same secret check; any other URL goes through the outbound
// allow-list (lib/outbound), as every URL a project sets.
import type { PrismaClient } from "@/server/db/generated/client";
import { callbackExecutionUpdateSchema, checkUpdate, type ExecStatus } from "@/lib/governor";
import { outboundFetch } from "@/lib/outbound/fetch";
import { childLog } from "@/lib/log";

const log = childLog("task-callbacks");
const BACKOFF_MIN = [1, 5, 15, 60];
export const MAX_ATTEMPTS = 12;
const nextDelayMs = (attempts: number) => (BACKOFF_MIN[attempts - 1] ?? 360) * 60_000;

/** After a task became done: its result exported to the archive (SR/SEG), its workflow callback, its own callback, its group's callback. */
export async function onTaskDone(prisma: PrismaClient, taskId: string): Promise<void> {
  const t = await prisma.task.findUnique({ where: { id: taskId }, select: { id: true, experimentId: true, callbackUrl: true, callbackContent: true, groupId: true } });
  if (!t) return;
  // Before the callbacks, so that what they start finds the result in the archive; a failure is recorded on the result.
  await (await import("./export")).exportTaskResult(prisma, taskId).catch((e: Error) => log.warn({ taskId, error: e.name }, "could not export the task result"));
  // A task a workflow made (or the adjudication of its reads) resolves the workflow's callback;
  // any other task of an experiment in a workflow has it look again.
  const workflow = await (await import("./governor")).resolveWorkflowCallback(prisma, taskId);
  if (workflow === "not-workflow" && t.experimentId) {
    const { onExperimentsEvent } = await import("@/server/governor/engine");
    await onExperimentsEvent(prisma, [t.experimentId], "event:task").catch((e: Error) => log.warn({ taskId, error: e.name }, "could not queue the workflow evaluation"));
  }
  if (workflow === "not-workflow" && t.callbackUrl) {
    const cb = await prisma.taskCallback.create({ data: { taskId, url: t.callbackUrl, body: t.callbackContent ?? "{}", method: "PUT" } });
    await deliverCallback(prisma, cb.id);
  }
  if (t.groupId) {
    const g = await prisma.taskGroup.findUnique({ where: { id: t.groupId }, select: { callbackUrl: true, callbackContent: true, callbackFiredAt: true } });
    if (g?.callbackUrl && !g.callbackFiredAt && !(await prisma.task.findFirst({ where: { groupId: t.groupId, state: { not: "done" } }, select: { id: true } }))) {
      // Once: the conditional update decides who fires it when the last two tasks finish together.
      const n = await prisma.taskGroup.updateMany({ where: { id: t.groupId, callbackFiredAt: null }, data: { callbackFiredAt: new Date() } });
      if (n.count) {
        const cb = await prisma.taskCallback.create({ data: { groupId: t.groupId, url: g.callbackUrl, body: g.callbackContent ?? "{}", method: "PUT" } });
        await deliverCallback(prisma, cb.id);
      }
    }
  }
}

function ownGovernorExecution(url: URL, base: string): string | null {
  const b = new URL(base);
  if (url.host !== b.host) return null;
  return /^\/api\/v2\/callback_executions\/([A-Za-z0-9_-]{1,64})\/?$/.exec(url.pathname)?.[1] ?? null;
}

/** One attempt at a callback; records the outcome and when to try again. True when delivered. */
export async function deliverCallback(prisma: PrismaClient, callbackId: string): Promise<boolean> {
  const cb = await prisma.taskCallback.findUnique({ where: { id: callbackId } });
  if (!cb || cb.deliveredAt || cb.attempts >= MAX_ATTEMPTS) return Boolean(cb?.deliveredAt);
  let error: string | null = null;
  try {
    const url = new URL(cb.url);
    const { publicBase, updateExecution, ProtocolError } = await import("@/server/governor/engine");
    const executionId = ownGovernorExecution(url, publicBase());
    if (executionId) {
      const parsed = callbackExecutionUpdateSchema.safeParse(JSON.parse(cb.body || "{}"));
      if (!parsed.success) throw new Error(`the callback_content is not a callback-execution update: ${parsed.error.issues[0]?.message ?? "invalid"}`);
      const ex = await prisma.governorCallbackExecution.findUnique({ where: { id: executionId }, select: { status: true, secretHash: true } });
      if (!ex) throw new Error(`no callback execution ${executionId}`);
      const verdict = checkUpdate({ status: ex.status as ExecStatus, secretHash: ex.secretHash }, parsed.data);
      // Already resolved (a timeout or an owner came first): delivered, nothing to change — as a 409 would be final.
      if (!verdict.ok && verdict.status === 403) throw new Error(verdict.error);
      if (verdict.ok) {
        const { secret_key: _s, secret: _t, ...update } = parsed.data;
        await updateExecution(prisma, executionId, update).catch((e) => {
          if (!(e instanceof ProtocolError && e.status === 409)) throw e;
        });
      }
    } else {
      const res = await outboundFetch(url, { method: cb.method, body: cb.body, headers: { "content-type": "application/json" }, signal: AbortSignal.timeout(30_000) });
      await res.text().catch(() => "");
      if (res.status < 200 || res.status >= 300) error = `HTTP ${res.status}`;
    }
  } catch (e) {
    error = e instanceof Error ? e.message : String(e);
  }
  const attempts = cb.attempts + 1;
  if (!error) {
    await prisma.taskCallback.update({ where: { id: cb.id }, data: { attempts, deliveredAt: new Date(), lastError: null } });
    return true;
  }
  await prisma.taskCallback.update({ where: { id: cb.id }, data: { attempts, lastError: error.slice(0, 500), nextAttemptAt: new Date(Date.now() + nextDelayMs(attempts)) } });
  log.warn({ callbackId: cb.id, taskId: cb.taskId, groupId: cb.groupId, attempts, giveUp: attempts >= MAX_ATTEMPTS }, "task callback not delivered");
  return false;
}

/** The workers' sweep: every callback due for another attempt. */
export async function deliverDueCallbacks(prisma: PrismaClient, now = new Date()): Promise<number> {
  const due = await prisma.taskCallback.findMany({ where: { deliveredAt: null, nextAttemptAt: { lte: now }, attempts: { lt: MAX_ATTEMPTS } }, select: { id: true }, orderBy: { nextAttemptAt: "asc" }, take: 200 });
  let delivered = 0;
  for (const c of due) if (await deliverCallback(prisma, c.id)) delivered++;
  return delivered;
}
