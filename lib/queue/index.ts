// Queue names and the one zod schema of each queue's payload, shared by producers and workers.
// Later capabilities (intake, deid, archive, governor, compute, tasks) add their queues here.
import { z } from "zod";

export const queuePayloads = {
  /** A liveness probe: the worker process answers it, proving that jobs flow end to end. */
  health: z.object({ requestedAt: z.string().datetime(), note: z.string().max(200).optional() }),
  /** De-identify one received instance (job id = the instance id, so it is queued once). */
  deid: z.object({ instanceId: z.string().min(1).max(64) }),
  /** Periodic: studies quiet for their project's stable period become stable. */
  "intake-stability": z.object({}),
  /** Pull the study a webhook delivery names from its source's node (job id = the delivery id). */
  "webhook-pull": z.object({ deliveryId: z.string().min(1).max(64) }),
  /** Archive one stable study; `attempt` is the attempt this job makes (job id = study + queue time + attempt, so it is queued once). */
  archive: z.object({ studyId: z.string().min(1).max(64), attempt: z.number().int().min(1).max(1000) }),
  /** Forward one study to one destination (a StudyForward row); job id = forward + queue time + attempt. */
  forward: z.object({ forwardId: z.string().min(1).max(64), attempt: z.number().int().min(1).max(1000) }),
  /** Workflows (issue #16): evaluate one governed experiment (timers, transitions), or run one callback execution. */
  governor: z.object({ kind: z.enum(["evaluate", "run"]), id: z.string().min(1).max(64), cause: z.string().max(100).optional() }),
  /** Run one pipeline job (a PipelineJob row) once its upstream jobs succeeded; job id = job + attempt. */
  compute: z.object({ jobId: z.string().min(1).max(64), attempt: z.number().int().min(1).max(10_000) }),
} as const;

export type QueueName = keyof typeof queuePayloads;
export type QueuePayload<N extends QueueName> = z.infer<(typeof queuePayloads)[N]>;
export const queueNames = Object.keys(queuePayloads) as QueueName[];

export function parsePayload<N extends QueueName>(name: N, data: unknown): QueuePayload<N> {
  return queuePayloads[name].parse(data) as QueuePayload<N>;
}
