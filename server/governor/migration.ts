// An owner moves the experiments of earlier workflow versions to the active one (issue #16): the
// preview groups them by (version, state) with where each group lands (lib/governor/migration.ts
// decides); the migration moves each experiment once, under the same revision check as every
// transition, and is audited. Experiments whose state is kept are not re-entered (their open
// callbacks go on); the others enter their landing state with cause "migration".
import type { PrismaClient } from "@/server/db/generated/client";
import { choiceKey, describeLanding, planMigration, type MigrationChoices } from "@/lib/governor/migration";
import { writeAudit } from "@/server/audit";
import { evaluateExperiment, ProtocolError, queueScheduler, takeTransition, workflowOf, type GovernorScheduler } from "./engine";

async function activeOf(prisma: PrismaClient, projectId: string) {
  const active = await prisma.governorWorkflow.findFirst({ where: { projectId, active: true }, select: { id: true, label: true, version: true } });
  if (!active) throw new ProtocolError(404, "This project has no workflow: import one first.");
  return active;
}

export async function migrationPreview(prisma: PrismaClient, projectId: string, choices: MigrationChoices) {
  const active = await activeOf(prisma, projectId);
  const target = await workflowOf(prisma, active.id);
  const counts = await prisma.governorExperiment.groupBy({ by: ["workflowId", "state"], where: { projectId, workflowId: { not: active.id } }, _count: { _all: true }, orderBy: [{ workflowId: "asc" }, { state: "asc" }] });
  const versions = new Map(
    (await prisma.governorWorkflow.findMany({ where: { id: { in: [...new Set(counts.map((c) => c.workflowId))] } }, select: { id: true, label: true, version: true } })).map((v) => [v.id, v]),
  );
  const plan = planMigration(target, counts.map((c) => ({ workflowId: c.workflowId, state: c.state, count: c._count._all })), choices);
  return {
    target: { ...active, states: target.states.map((s) => s.label) },
    total: plan.total,
    groups: plan.groups
      .map((g) => ({ ...g, from: versions.get(g.workflowId)!, describe: describeLanding(g.landing) }))
      .sort((a, b) => a.from.version - b.from.version || (a.state ?? "").localeCompare(b.state ?? "")),
  };
}

export interface MigrationOutcome {
  migrated: number;
  kept: number;
  entered: number;
  /** experiments that moved meanwhile and were left on their version (migrate again to take them) */
  skipped: number;
}

/**
 * Migrates every experiment of an earlier version. `expected` is the total the owner saw: when
 * experiments were added or moved to another version since, nothing is done (409) so the owner
 * looks at the new preview first.
 */
export async function migrateExperiments(
  prisma: PrismaClient,
  projectId: string,
  o: { choices: MigrationChoices; expected: number; actorId: string | null; scheduler?: GovernorScheduler },
): Promise<MigrationOutcome> {
  const preview = await migrationPreview(prisma, projectId, o.choices);
  if (preview.total !== o.expected)
    throw new ProtocolError(409, `The preview showed ${o.expected} experiment(s) to migrate; there are now ${preview.total}. Look at the preview again, then migrate.`);
  const target = await workflowOf(prisma, preview.target.id);
  const landingOf = new Map(preview.groups.map((g) => [g.key, g.landing]));
  const scheduler = o.scheduler ?? queueScheduler;
  const out: MigrationOutcome = { migrated: 0, kept: 0, entered: 0, skipped: 0 };
  const rows = await prisma.governorExperiment.findMany({
    where: { projectId, workflowId: { not: preview.target.id } },
    select: { id: true, projectId: true, experimentId: true, workflowId: true, state: true, revision: true, paused: true },
    orderBy: { createdAt: "asc" },
  });
  for (const gx of rows) {
    const l = landingOf.get(choiceKey(gx.workflowId, gx.state));
    if (!l) {
      out.skipped++;
      continue;
    }
    const from = preview.groups.find((g) => g.workflowId === gx.workflowId)!.from;
    const switched = await prisma.$transaction(async (tx) => {
      const n = await tx.governorExperiment.updateMany({ where: { id: gx.id, revision: gx.revision, workflowId: gx.workflowId }, data: { workflowId: preview.target.id, lastError: null } });
      if (!n.count) return false;
      await writeAudit(tx, {
        projectId,
        actorId: o.actorId,
        action: "governor.migrate",
        targetType: "experiment",
        targetId: gx.experimentId,
        before: { workflow: `${from.label} v${from.version}`, state: gx.state },
        after: { workflow: `${preview.target.label} v${preview.target.version}`, state: l.state, how: l.how },
      });
      return true;
    });
    if (!switched) {
      out.skipped++;
      continue;
    }
    out.migrated++;
    if (gx.state === null) {
      // Not started: its first evaluation enters the new root.
      out.entered++;
    } else if (l.how === "keeps") {
      out.kept++;
    } else {
      // A worker that had read the old version may move the experiment meanwhile: read it again
      // and enter the landing state from wherever it is, unless it reached a state the new version has.
      let cur = { ...gx, workflowId: preview.target.id };
      for (let attempt = 0; attempt < 3; attempt++) {
        const moved = await takeTransition(prisma, cur, target, l.state, {
          cause: "migration",
          actorId: o.actorId,
          freetext: `Migrated from ${from.label} v${from.version} (state '${gx.state}') to ${preview.target.label} v${preview.target.version}`,
          scheduler,
        });
        if (moved) {
          out.entered++;
          break;
        }
        const now = await prisma.governorExperiment.findUniqueOrThrow({ where: { id: gx.id }, select: { id: true, projectId: true, experimentId: true, workflowId: true, state: true, revision: true, paused: true } });
        if (now.state !== null && target.states.some((s) => s.label === now.state)) break;
        cur = now;
      }
    }
    // The migration is the cause of what follows for an experiment that kept its state or had none;
    // one that entered a state has its own action already, and what follows is the workflow's.
    if (!gx.paused) await evaluateExperiment(prisma, gx.id, { scheduler, cause: gx.state === null || l.how === "keeps" ? "migration" : "auto" });
  }
  return out;
}
