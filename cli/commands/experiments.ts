import { parseArgs } from "node:util";
import type { ExperimentRow } from "@/server/governor/ops";

export const summary = "List a project's experiments with their workflow state and time in state.";

const usage = `Usage: atrium experiments --project ID [--state STATE] [--json]

Prints each experiment in the project's workflow: label, state, time in state, what it waits for
(or its error). Reads DATABASE_URL; with the embedded database it asks the running Atrium, or
opens the database itself when Atrium is not running.`;

export function duration(s: number): string {
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600)}h`;
}

export async function run(args: string[]) {
  const { values } = parseArgs({ args, options: { project: { type: "string" }, state: { type: "string" }, json: { type: "boolean" }, help: { type: "boolean", short: "h" } } });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const [{ projectIdSchema }, { readEnv }] = await Promise.all([import("@/lib/projects"), import("@/lib/config")]);
  const projectId = projectIdSchema.safeParse(values.project ?? "");
  if (!projectId.success) {
    console.error(`atrium experiments: ${values.project ? projectId.error.issues[0]!.message : "--project ID is required."}\n\n${usage}`);
    return 2;
  }
  const env = readEnv();
  let rows: ExperimentRow[] | null = null;
  if (!env.DATABASE_URL) {
    const { callOperator } = await import("@/server/local/operator");
    const q = `/api/internal/governor?project=${encodeURIComponent(projectId.data)}${values.state ? `&state=${encodeURIComponent(values.state)}` : ""}`;
    const res = await callOperator<{ experiments?: ExperimentRow[]; error?: string }>(env.NEXTAUTH_URL ?? `http://localhost:${env.PORT}`, q);
    if (res && res.status !== 200) {
      console.error(`atrium experiments: ${res.body.error ?? `the portal answered ${res.status}`}`);
      return 2;
    }
    if (res) rows = res.body.experiments ?? [];
  }
  if (!rows) {
    const [{ openDb }, { experimentsOf }] = await Promise.all([import("@/server/db"), import("@/server/governor/ops")]);
    const handle = await openDb(env.DATABASE_URL);
    try {
      if (!(await handle.prisma.project.findUnique({ where: { id: projectId.data }, select: { id: true } }))) {
        console.error(`atrium experiments: no project "${projectId.data}". List them in the portal, or check the id's case.`);
        return 2;
      }
      rows = await experimentsOf(handle.prisma, projectId.data, values.state);
    } finally {
      await handle.close();
    }
  }
  if (values.json) {
    console.log(JSON.stringify(rows, null, 2));
    return 0;
  }
  if (!rows.length) {
    console.log(values.state ? `No experiment of ${projectId.data} is in state "${values.state}".` : `No experiment of ${projectId.data} is in a workflow yet (import one with \`atrium workflow import FILE --project ${projectId.data} --adopt\`).`);
    return 0;
  }
  const w = Math.max(10, ...rows.map((r) => r.label.length));
  const sw = Math.max(5, ...rows.map((r) => (r.state ?? "(starting)").length));
  console.log(`${"EXPERIMENT".padEnd(w)}  ${"STATE".padEnd(sw)}  ${"IN STATE".padEnd(8)}  WAITING FOR / ERROR`);
  for (const r of rows) console.log(`${r.label.padEnd(w)}  ${(r.state ?? "(starting)").padEnd(sw)}  ${duration(r.secondsInState).padEnd(8)}  ${r.error ? `error: ${r.error}` : (r.waitingFor ?? "")}`);
  const counts = new Map<string, number>();
  for (const r of rows) counts.set(r.state ?? "(starting)", (counts.get(r.state ?? "(starting)") ?? 0) + 1);
  console.log(`\n${rows.length} experiment(s): ${[...counts].map(([s, n]) => `${n} ${s}`).join(" · ")}`);
  return 0;
}
