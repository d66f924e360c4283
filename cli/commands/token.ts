import { parseArgs } from "node:util";

export const summary = "Create a project API token (scopes stow, read, report) for scripts, senders and fastr's PIM reporter.";

const usage = `Usage: atrium token create --project ID --scopes SCOPE[,SCOPE…] [--name NAME] [--expires-days N] [--json]

Prints a new API token of the project, once (only its hash is kept). Scopes:
  stow    send DICOM (STOW-RS)
  read    DICOMweb reads and downloads
  report  fastr runs reporting to <portal>/pim (set fastr's pim_host to https://fastr:<token>@<portal>/pim)
Run it on the machine Atrium runs on: it uses DATABASE_URL, or asks the running Atrium (embedded
database), as \`atrium status\` does. The creation is audited as done by an operator.`;

export async function run(args: string[]) {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { project: { type: "string" }, scopes: { type: "string" }, name: { type: "string" }, "expires-days": { type: "string" }, json: { type: "boolean" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  if (positionals[0] !== "create") {
    console.error(`atrium token: ${positionals[0] ? `unknown action "${positionals[0]}"` : "say what to do"}.\n\n${usage}`);
    return 2;
  }
  const [{ createTokenInput }, { readEnv }, { callOperator }] = await Promise.all([import("@/lib/tokens"), import("@/lib/config"), import("@/server/local/operator")]);
  const input = createTokenInput.safeParse({
    projectId: values.project ?? "",
    name: values.name ?? `created by atrium token on ${new Date().toISOString().slice(0, 10)}`,
    scopes: (values.scopes ?? "").split(",").map((s) => s.trim()).filter(Boolean),
    ...(values["expires-days"] ? { expiresInDays: Number(values["expires-days"]) } : {}),
  });
  if (!input.success) {
    const i = input.error.issues[0]!;
    const flag = { projectId: "--project", scopes: "--scopes", name: "--name", expiresInDays: "--expires-days" }[String(i.path[0])] ?? "";
    console.error(`atrium token: ${flag ? `${flag}: ` : ""}${i.message}\n\n${usage}`);
    return 2;
  }
  type Created = { id: string; name: string; prefix: string; scopes: string[]; expiresAt: string | Date | null; token: string };
  let created: Created | null = null;
  const env = readEnv();
  if (!env.DATABASE_URL) {
    const url = env.NEXTAUTH_URL ?? `http://localhost:${env.PORT}`;
    const res = await callOperator<Created & { error?: string }>(url, "/api/internal/tokens", { method: "POST", body: input.data });
    if (res) {
      if (res.status !== 201) {
        console.error(`atrium token: ${res.body.error ?? `the portal answered ${res.status}`}`);
        return 2;
      }
      created = res.body;
    }
  }
  if (!created) {
    const [{ openDb }, { createProjectToken }] = await Promise.all([import("@/server/db"), import("@/server/tokens/create")]);
    const handle = await openDb();
    try {
      if (!(await handle.prisma.project.findUnique({ where: { id: input.data.projectId }, select: { id: true } }))) {
        console.error(`atrium token: no project "${input.data.projectId}". List them in the portal, or check the id's case.`);
        return 2;
      }
      created = await createProjectToken(handle.prisma, input.data, null, "operator");
    } finally {
      await handle.close();
    }
  }
  if (values.json) {
    console.log(JSON.stringify({ id: created.id, name: created.name, prefix: created.prefix, scopes: created.scopes, expiresAt: created.expiresAt, token: created.token }, null, 2));
  } else {
    console.log(created.token);
    console.error(`Token "${created.name}" (${created.prefix}…, scopes ${created.scopes.join(", ")}) created. It is shown only now: store it where the sender or fastr reads it.`);
  }
  return 0;
}
