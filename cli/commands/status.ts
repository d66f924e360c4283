import { parseArgs } from "node:util";
import { openDb } from "@/server/db";
import { intakeSummary } from "@/server/intake/summary";
import { projectIdSchema } from "@/lib/projects";

export const summary = "Print a project's intake counts (received, de-identified, quarantined with reasons, stable, archived).";

const usage = `Usage: atrium status --project ID [--json]

Prints the project's instances and studies by state, and the commonest quarantine reasons.
Reads DATABASE_URL (or the embedded database when Atrium is not running on it).`;

export async function run(args: string[]) {
  const { values } = parseArgs({ args, options: { project: { type: "string" }, json: { type: "boolean" }, help: { type: "boolean", short: "h" } } });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const projectId = projectIdSchema.safeParse(values.project ?? "");
  if (!projectId.success) {
    console.error(`atrium status: ${values.project ? projectId.error.issues[0]!.message : "--project ID is required."}\n\n${usage}`);
    return 2;
  }
  const handle = await openDb();
  try {
    const project = await handle.prisma.project.findUnique({ where: { id: projectId.data } });
    if (!project) {
      console.error(`atrium status: no project "${projectId.data}". List them in the portal, or check the id's case.`);
      return 2;
    }
    const s = await intakeSummary(handle.prisma, project.id);
    if (values.json) {
      console.log(JSON.stringify(s, null, 2));
      return 0;
    }
    const i = s.instances;
    const st = s.studies;
    console.log(`${project.id} — ${project.name}`);
    console.log(`instances: ${i.total} received · ${i.deidentified} de-identified · ${i.duplicate} duplicate · ${i.skipped} skipped · ${i.quarantined} quarantined · ${i.received} in progress`);
    console.log(`studies:   ${st.total} · ${st.receiving} receiving · ${st.stable} stable · ${st.archiving} archiving · ${st.archived} archived · ${st.failed} failed`);
    if (s.quarantineReasons.length) {
      console.log("quarantine reasons:");
      for (const r of s.quarantineReasons) console.log(`  ${String(r.count).padStart(6)}  ${r.reason}`);
    }
    console.log(`last received: ${s.lastReceivedAt ? s.lastReceivedAt.toISOString() : "never"}`);
    return 0;
  } finally {
    await handle.close();
  }
}
