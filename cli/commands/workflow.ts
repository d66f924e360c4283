import { parseArgs } from "node:util";
import type { ImportOutcome } from "@/server/governor/ops";

export const summary = "Import a workflow file (Study Governor v8, pre-6 or Atrium's) as a project's new workflow version.";

const usage = `Usage: atrium workflow import FILE --project ID [--adopt] [--json]

Validates FILE, installs it as the project's new workflow version (experiments already in a
workflow keep theirs) and says what it refused, with the line. --adopt starts the project's
archived experiments that are in no workflow yet at the new workflow's root.
Reads DATABASE_URL; with the embedded database it asks the running Atrium (NEXTAUTH_URL or
http://localhost:$PORT), or opens the database itself when Atrium is not running.`;

export async function run(args: string[]) {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { project: { type: "string" }, adopt: { type: "boolean" }, json: { type: "boolean" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const [sub, file] = positionals;
  if (sub !== "import" || !file) {
    console.error(`atrium workflow: ${sub && sub !== "import" ? `unknown subcommand "${sub}"` : "name the file"}.\n\n${usage}`);
    return 2;
  }
  const [{ projectIdSchema }, { readEnv }, fs] = await Promise.all([import("@/lib/projects"), import("@/lib/config"), import("node:fs")]);
  const projectId = projectIdSchema.safeParse(values.project ?? "");
  if (!projectId.success) {
    console.error(`atrium workflow: ${values.project ? projectId.error.issues[0]!.message : "--project ID is required."}\n\n${usage}`);
    return 2;
  }
  let source: string;
  try {
    source = fs.readFileSync(file, "utf8");
  } catch {
    console.error(`atrium workflow: cannot read ${file}.`);
    return 2;
  }
  const env = readEnv();
  let outcome: ImportOutcome | null = null;
  if (!env.DATABASE_URL) {
    const { callOperator } = await import("@/server/local/operator");
    const res = await callOperator<ImportOutcome & { error?: string }>(env.NEXTAUTH_URL ?? `http://localhost:${env.PORT}`, "/api/internal/governor", {
      method: "POST",
      body: { project: projectId.data, source, adopt: Boolean(values.adopt) },
    });
    if (res && res.status !== 200) {
      console.error(`atrium workflow: ${res.body.error ?? `the portal answered ${res.status}`}`);
      return 2;
    }
    if (res) outcome = res.body;
  }
  if (!outcome) {
    const [{ openDb }, { importForProject }] = await Promise.all([import("@/server/db"), import("@/server/governor/ops")]);
    const handle = await openDb(env.DATABASE_URL);
    try {
      if (!(await handle.prisma.project.findUnique({ where: { id: projectId.data }, select: { id: true } }))) {
        console.error(`atrium workflow: no project "${projectId.data}". List them in the portal, or check the id's case.`);
        return 2;
      }
      outcome = await importForProject(handle.prisma, projectId.data, source, Boolean(values.adopt));
    } finally {
      await handle.close();
      const { closeQueues } = await import("@/server/queues");
      await closeQueues().catch(() => undefined);
      await (await import("@/server/redis")).closeSharedRedis().catch(() => undefined);
    }
  }
  if (values.json) {
    console.log(JSON.stringify(outcome, null, 2));
    return outcome.ok ? 0 : 1;
  }
  if (!outcome.ok) {
    console.error(`${file}: not imported; nothing was changed.`);
    for (const p of outcome.problems) console.error(`  ${file}:${p.line ?? "?"}: ${p.message}`);
    return 1;
  }
  console.log(`Imported ${outcome.workflow.label} as version ${outcome.workflow.version} of ${projectId.data}'s workflow (${outcome.workflow.format} format).`);
  for (const w of outcome.warnings) console.log(`  warning: ${file}:${w.line ?? "?"}: ${w.message}`);
  if (values.adopt) console.log(`Started ${outcome.adopted} experiment(s) that were in no workflow.`);
  return 0;
}
