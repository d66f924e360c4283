import { parseArgs } from "node:util";
import type { IntakeSummary } from "@/server/intake/summary";

export const summary = "Print a project's intake counts (received, de-identified, quarantined with reasons, stable, archived).";

const usage = `Usage: atrium status --project ID [--json]

Prints the project's instances and studies by state, and the commonest quarantine reasons.
Reads DATABASE_URL; with the embedded database it asks the running Atrium (NEXTAUTH_URL or
http://localhost:$PORT), or opens the database itself when Atrium is not running.`;

export async function run(args: string[]) {
  const { values } = parseArgs({ args, options: { project: { type: "string" }, json: { type: "boolean" }, help: { type: "boolean", short: "h" } } });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  // Loaded here, not at the top: `atrium --help` loads every command's module (see cli/main.ts);
  // the database client loads only when no running Atrium answers.
  const [{ projectIdSchema }, { readEnv }, { callOperator }] = await Promise.all([
    import("@/lib/projects"),
    import("@/lib/config"),
    import("@/server/local/operator"),
  ]);
  const projectId = projectIdSchema.safeParse(values.project ?? "");
  if (!projectId.success) {
    console.error(`atrium status: ${values.project ? projectId.error.issues[0]!.message : "--project ID is required."}\n\n${usage}`);
    return 2;
  }
  const env = readEnv();
  if (!env.DATABASE_URL) {
    // The embedded database serves one process: ask the running Atrium, if there is one.
    const url = env.NEXTAUTH_URL ?? `http://localhost:${env.PORT}`;
    const res = await callOperator<{ error?: string; name?: string; summary?: IntakeSummary }>(url, `/api/internal/status?project=${encodeURIComponent(projectId.data)}`);
    if (res) {
      if (res.status !== 200) {
        console.error(`atrium status: ${res.body.error ?? `the portal answered ${res.status}`}`);
        return 2;
      }
      const s = res.body.summary!;
      return print({ id: projectId.data, name: res.body.name! }, { ...s, lastReceivedAt: s.lastReceivedAt ? new Date(s.lastReceivedAt) : null }, values.json);
    }
  }
  if (!env.DATABASE_URL) {
    // No running Atrium answered: open the embedded database itself.
    const [{ openDb }, { intakeSummary }] = await Promise.all([import("@/server/db"), import("@/server/intake/summary")]);
    const handle = await openDb();
    try {
      const project = await handle.prisma.project.findUnique({ where: { id: projectId.data } });
      if (!project) {
        console.error(`atrium status: no project "${projectId.data}". List them in the portal, or check the id's case.`);
        return 2;
      }
      return print(project, await intakeSummary(handle.prisma, project.id), values.json);
    } finally {
      await handle.close();
    }
  }
  // PostgreSQL through plain pg, not the Prisma client: loading Prisma is most of this command's start-up time.
  const [{ default: pg }, { intakeSummaryFrom }] = await Promise.all([import("pg"), import("@/server/intake/summary")]);
  const client = new pg.Client({ connectionString: env.DATABASE_URL, application_name: "atrium status" });
  try {
    await client.connect();
    const query = async <T,>(sql: string, params: unknown[]) => (await client.query(sql, params)).rows as T[];
    const [project] = await query<{ id: string; name: string }>(`SELECT id, name FROM "Project" WHERE id = $1`, [projectId.data]);
    if (!project) {
      console.error(`atrium status: no project "${projectId.data}". List them in the portal, or check the id's case.`);
      return 2;
    }
    return print(project, await intakeSummaryFrom(query, project.id), values.json);
  } finally {
    await client.end().catch(() => undefined);
  }
}

function print(project: { id: string; name: string }, s: IntakeSummary, json: boolean | undefined): number {
  if (json) {
    console.log(JSON.stringify(s, null, 2));
    return 0;
  }
  const i = s.instances;
  const st = s.studies;
  console.log(`${project.id} — ${project.name}`);
  console.log(`instances: ${i.total} received · ${i.deidentified} de-identified · ${i.duplicate} duplicate · ${i.skipped} skipped · ${i.quarantined} quarantined · ${i.review} held for pixel review · ${i.received} in progress`);
  console.log(`studies:   ${st.total} · ${st.receiving} receiving · ${st.stable} stable · ${st.archiving} archiving · ${st.archived} archived · ${st.failed} failed`);
  if (s.quarantineReasons.length) {
    console.log("quarantine reasons:");
    for (const r of s.quarantineReasons) console.log(`  ${String(r.count).padStart(6)}  ${r.reason}`);
  }
  console.log(`last received: ${s.lastReceivedAt ? s.lastReceivedAt.toISOString() : "never"}`);
  if (s.live) {
    const senders = s.live.activeBatches.map((b) => `${b.batches} ${b.channel}`).join(", ") || "none";
    console.log(`last ${s.live.windowSeconds} s: ${s.live.instancesPerSecond} instances/s · active senders: ${senders}`);
  }
  return 0;
}
