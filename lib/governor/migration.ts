// Moving experiments from an earlier workflow version to the active one (issue #16: "experiments keep
// the version they started with until an owner migrates them, with a preview of where each lands").
//
// Where an experiment lands:
// - the owner chose a state for its (version, state): it enters that state (its callbacks run);
// - else its state exists in the new version: it keeps it, with its open callbacks, and from then
//   on the new version's transitions decide where it goes;
// - else (its state is gone, or it has not started): it enters the new version's root.
import { z } from "zod";
import { projectIdSchema } from "@/lib/projects";
import { rootState, type Workflow } from "./workflow";

/** "versionId/state" → target state; the state of an experiment that has not started is "". */
export const migrationChoicesSchema = z.record(z.string().max(200), z.string().min(1).max(128)).default({});
export type MigrationChoices = z.infer<typeof migrationChoicesSchema>;

export const migrationPreviewInput = z.object({ projectId: projectIdSchema, choices: migrationChoicesSchema });
export const migrateInput = z.object({
  projectId: projectIdSchema,
  choices: migrationChoicesSchema,
  /** how many experiments the owner saw in the preview: a different count refuses the migration */
  expected: z.number().int().min(0),
});

export const choiceKey = (workflowId: string, state: string | null) => `${workflowId}/${state ?? ""}`;

export type Landing = { how: "chosen"; state: string } | { how: "keeps"; state: string } | { how: "root"; state: string };

export class MigrationChoiceError extends Error {}

/** Where experiments in `state` of an earlier version land in `target`, given the owner's choices. */
export function landing(target: Workflow, workflowId: string, state: string | null, choices: MigrationChoices): Landing {
  const chosen = choices[choiceKey(workflowId, state)];
  if (chosen !== undefined) {
    if (!target.states.some((s) => s.label === chosen))
      throw new MigrationChoiceError(`The workflow '${target.label}' has no state '${chosen}'. Its states: ${target.states.map((s) => s.label).join(", ")}.`);
    return { how: "chosen", state: chosen };
  }
  if (state !== null && target.states.some((s) => s.label === state)) return { how: "keeps", state };
  return { how: "root", state: rootState(target).label };
}

export interface MigrationGroup {
  workflowId: string;
  state: string | null;
  count: number;
}

export interface PlannedGroup extends MigrationGroup {
  key: string;
  landing: Landing;
}

/** The preview: every (version, state) group with where it lands, and the total. */
export function planMigration(target: Workflow, groups: MigrationGroup[], choices: MigrationChoices): { groups: PlannedGroup[]; total: number } {
  const planned = groups.map((g) => ({ ...g, key: choiceKey(g.workflowId, g.state), landing: landing(target, g.workflowId, g.state, choices) }));
  return { groups: planned, total: groups.reduce((s, g) => s + g.count, 0) };
}

export function describeLanding(l: Landing): string {
  if (l.how === "keeps") return `keeps its state '${l.state}'`;
  if (l.how === "chosen") return `enters '${l.state}' (chosen)`;
  return `enters the root '${l.state}'`;
}
