// Forward destinations as the portal (tRPC) and the CLI (`atrium forward`) create and report them:
// one implementation, with the same audit, sealing and backfill.
import { TRPCError } from "@trpc/server";
import { writeAudit } from "@/server/audit";
import { sealSecret } from "@/server/secrets";
import type { DestinationFields } from "@/lib/forward/schema";
import { FORWARD_STATES } from "@/lib/forward/state";
import { handForwards } from "@/server/forward/queue";
import type { Prisma, PrismaClient } from "@/server/db/generated/client";

export type Stored = Prisma.ForwardDestinationGetPayload<object>;

/** What is shown and audited: everything but the secret. */
export function view(d: Stored) {
  return {
    id: d.id,
    name: d.name,
    kind: d.kind,
    enabled: d.enabled,
    trigger: d.trigger,
    filter: d.filter,
    host: d.host,
    port: d.port,
    calledAe: d.calledAe,
    callingAe: d.callingAe,
    associations: d.associations,
    stowUrl: d.stowUrl,
    authKind: d.authKind,
    authUser: d.authUser,
    hasSecret: Boolean(d.secretSealed),
    updatedAt: d.updatedAt,
  };
}

export function columns(f: DestinationFields) {
  const base = { name: f.name, kind: f.kind, enabled: f.enabled, trigger: f.trigger, filter: f.filter };
  if (f.kind === "dicom") return { ...base, host: f.host, port: f.port, calledAe: f.calledAe, callingAe: f.callingAe, associations: f.associations, stowUrl: null, authKind: "none", authUser: null };
  return { ...base, host: null, port: null, calledAe: null, callingAe: null, associations: 1, stowUrl: f.stowUrl, authKind: f.authKind, authUser: f.authKind === "basic" ? (f.authUser ?? null) : null };
}

export const slot = (id: string) => ({ table: "ForwardDestination" as const, id, field: "secretSealed" as const });

/** The sealed secret to store: a new one, or the stored one for the same URL, kind and user only. */
export function sealedFor(id: string, f: DestinationFields, before: Stored | null): string | null {
  if (f.kind !== "stow" || f.authKind === "none") return null;
  if (f.secret) return sealSecret(f.secret, slot(id));
  if (before?.secretSealed && before.stowUrl === f.stowUrl && before.authKind === f.authKind && (before.authUser ?? null) === (f.authKind === "basic" ? (f.authUser ?? null) : null)) return before.secretSealed;
  throw new TRPCError({ code: "BAD_REQUEST", message: "Enter the token (or password): a stored one is kept only for the same URL, authentication and user." });
}

/**
 * Creates a destination (audited; the secret sealed). With backfill, the studies the project already
 * holds are handed to it now; without, they are recorded as "skipped" (never sent unless they get new
 * instances) and only new studies are forwarded.
 */
export async function createDestination(prisma: PrismaClient, input: { projectId: string; actorId: string | null; destination: DestinationFields; backfill: boolean }): Promise<Stored> {
  const { projectId } = input;
  const created = await prisma.$transaction(async (tx) => {
    const d = await tx.forwardDestination.create({ data: { projectId, ...columns(input.destination) } });
    const sealed = sealedFor(d.id, input.destination, null);
    const saved = sealed ? await tx.forwardDestination.update({ where: { id: d.id }, data: { secretSealed: sealed } }) : d;
    await writeAudit(tx, { projectId, actorId: input.actorId, action: "forward.create", targetType: "forwardDestination", targetId: d.id, after: { ...view(saved), updatedAt: undefined, backfill: input.backfill } });
    return saved;
  });
  if (input.backfill) await handForwards(prisma, new Date(), created.id).catch(() => undefined);
  else {
    const studies = await prisma.intakeStudy.findMany({ where: { projectId, status: { in: ["stable", "archiving", "archived", "failed"] } }, select: { id: true, instanceCount: true } });
    if (studies.length)
      await prisma.studyForward.createMany({
        data: studies.map((s) => ({ destinationId: created.id, studyId: s.id, projectId, state: "skipped" as const, handedInstances: s.instanceCount, lastError: null })),
        skipDuplicates: true,
      });
  }
  return created;
}

/** Per destination: studies by state, instances by outcome, the latest forwards and failed or warned instances. */
export async function forwardStatus(prisma: PrismaClient, projectId: string, limit: number) {
  const dests = await prisma.forwardDestination.findMany({ where: { projectId }, orderBy: { createdAt: "asc" } });
  return Promise.all(
    dests.map(async (d) => {
      const [byState, byOutcome, forwards, failures] = await Promise.all([
        prisma.studyForward.groupBy({ by: ["state"], where: { destinationId: d.id }, _count: { _all: true } }),
        prisma.forwardDelivery.groupBy({ by: ["outcome"], where: { destinationId: d.id }, _count: { _all: true } }),
        prisma.studyForward.findMany({
          where: { destinationId: d.id },
          orderBy: [{ queuedAt: "desc" }, { id: "asc" }],
          take: limit,
          include: { study: { select: { subjectLabel: true, instanceCount: true } } },
        }),
        prisma.forwardDelivery.findMany({ where: { destinationId: d.id, outcome: { in: ["failed", "warning"] } }, orderBy: { updatedAt: "desc" }, take: 20 }),
      ]);
      const studies = Object.fromEntries(FORWARD_STATES.map((s) => [s, 0])) as Record<(typeof FORWARD_STATES)[number], number>;
      for (const g of byState) studies[g.state] = g._count._all;
      const instances = { success: 0, warning: 0, failed: 0, filtered: 0 };
      for (const g of byOutcome) instances[g.outcome] = g._count._all;
      return {
        destination: view(d),
        studies,
        instances,
        forwards: forwards.map((f) => ({
          id: f.id,
          studyId: f.studyId,
          subjectLabel: f.study.subjectLabel,
          instances: f.study.instanceCount,
          state: f.state,
          attempts: f.attempts,
          lastError: f.lastError,
          nextAttemptAt: f.nextAttemptAt,
          done: f.done,
          total: f.total,
          sent: f.sent,
          warnings: f.warnings,
          failed: f.failed,
          filtered: f.filtered,
          verification: f.verification,
          queuedAt: f.queuedAt,
          finishedAt: f.finishedAt,
        })),
        failures: failures.map((x) => ({ sopInstanceUid: x.sopInstanceUid, outcome: x.outcome, status: x.status, reason: x.reason, attempts: x.attempts, updatedAt: x.updatedAt })),
      };
    }),
  );
}
