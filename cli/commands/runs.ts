import { parseArgs } from "node:util";
import type { RunSummary } from "@/server/runs/list";

export const summary = "List pipeline runs (Atrium's own and those fastr reported through /pim) with their state and job counts.";

const usage = `Usage: atrium runs [--project ID] [--json] [--url URL]

Lists the newest 100 runs of a project (or of every project): id, pipeline or network, origin
(atrium or external), state, and jobs by state. Uses DATABASE_URL, or asks the running Atrium
(embedded database, or --url), as \`atrium status\` does.`;

export async function run(args: string[]) {
  const { values } = parseArgs({ args, options: { project: { type: "string" }, json: { type: "boolean" }, url: { type: "string" }, help: { type: "boolean", short: "h" } } });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const [{ projectIdSchema }, { readEnv }, { callOperator }] = await Promise.all([import("@/lib/projects"), import("@/lib/config"), import("@/server/local/operator")]);
  const project = values.project === undefined ? null : projectIdSchema.safeParse(values.project);
  if (project && !project.success) {
    console.error(`atrium runs: --project: ${project.error.issues[0]!.message}`);
    return 2;
  }
  const projectId = project ? project.data : null;
  let runs: RunSummary[] | null = null;
  const env = readEnv();
  if (!env.DATABASE_URL || values.url) {
    const url = values.url ?? env.NEXTAUTH_URL ?? `http://localhost:${env.PORT}`;
    const res = await callOperator<{ runs?: RunSummary[]; error?: string }>(url, `/api/internal/runs${projectId ? `?project=${encodeURIComponent(projectId)}` : ""}`);
    if (res) {
      if (res.status !== 200) {
        console.error(`atrium runs: ${res.body.error ?? `the portal answered ${res.status}`}`);
        return 2;
      }
      runs = res.body.runs ?? [];
    }
  }
  if (!runs) {
    const [{ openDb }, { listRuns }] = await Promise.all([import("@/server/db"), import("@/server/runs/list")]);
    const handle = await openDb();
    try {
      if (projectId && !(await handle.prisma.project.findUnique({ where: { id: projectId }, select: { id: true } }))) {
        console.error(`atrium runs: no project "${projectId}". List them in the portal, or check the id's case.`);
        return 2;
      }
      runs = await listRuns(handle.prisma, projectId);
    } finally {
      await handle.close();
    }
  }
  if (values.json) {
    console.log(JSON.stringify(runs, null, 2));
    return 0;
  }
  if (!runs.length) {
    console.log(projectId ? `No runs in ${projectId} yet.` : "No runs yet.");
    return 0;
  }
  const rows = runs.map((r) => [r.id, r.project, r.pipeline, r.origin, r.state, Object.entries(r.jobs).map(([s, n]) => `${n} ${s}`).join(", ") || "no jobs", r.startedAt.slice(0, 19).replace("T", " ")]);
  const head = ["ID", "PROJECT", "PIPELINE", "ORIGIN", "STATE", "JOBS", "STARTED (UTC)"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const line of [head, ...rows]) console.log(line.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd());
  return 0;
}
