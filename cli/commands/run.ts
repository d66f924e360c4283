import { parseArgs } from "node:util";

export const summary = "Start a pipeline run on a project's experiments in the running Atrium (--wait for its outcome).";

const usage = `Usage: atrium run --project P --pipeline ID (--experiment E… | --all) [--executor local|slurm]
                  [--version V] [--priority N] [--wait] [--json] [--url URL]

Starts pipeline ID (registered in the project, e.g. dicom-stats after \`atrium seed-demo\`) on the
experiments named by id or label (--experiment, repeatable) or on every archived experiment (--all).
Prints the run id; with --wait, follows it and prints its outcome and results. With --json it prints
one object: { runId, state, jobs: {state: count}, ... } (with --wait: the final state and results).
Exit code: 0 started (or, with --wait, succeeded), 1 failed or cancelled, 2 bad usage or refused.
Run it next to a running Atrium (npm start), with the same ATRIUM_DATA_DIR.`;

type RunView = { id: string; state: string; error: string | null; notes: string[]; counts: Record<string, number>; total: number; results?: { values: { experimentId: string | null; scanId: string | null; name: string; value: unknown }[]; resources: { experimentId: string | null; scanId: string | null; name: string; files: { name: string; size: number }[] }[] } };

export async function run(args: string[]) {
  const { values } = parseArgs({
    args,
    options: {
      project: { type: "string" },
      pipeline: { type: "string" },
      version: { type: "string" },
      experiment: { type: "string", multiple: true },
      all: { type: "boolean" },
      executor: { type: "string" },
      priority: { type: "string" },
      wait: { type: "boolean" },
      json: { type: "boolean" },
      url: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const [{ readEnv }, { callOperator }, { startRunInput }] = await Promise.all([import("@/lib/config"), import("@/server/local/operator"), import("@/lib/pipelines/api")]);
  const parsed = startRunInput.safeParse({
    projectId: values.project ?? "",
    pipeline: values.pipeline ?? "",
    ...(values.version ? { version: values.version } : {}),
    experimentIds: values.experiment ?? [],
    all: Boolean(values.all),
    ...(values.executor ? { executor: values.executor } : {}),
    ...(values.priority ? { priority: Number(values.priority) } : {}),
  });
  if (!parsed.success) {
    const what = parsed.error.issues.map((i) => `${{ projectId: "--project", pipeline: "--pipeline", experimentIds: "--experiment", executor: "--executor (local or slurm)", priority: "--priority" }[String(i.path[0])] ?? String(i.path[0])}: ${i.message}`).join("; ");
    console.error(`atrium run: ${what}\n\n${usage}`);
    return 2;
  }
  const env = readEnv();
  const url = values.url ?? env.NEXTAUTH_URL ?? `http://localhost:${env.PORT}`;
  const started = await callOperator<{ error?: string; runId?: string; state?: string; notes?: string[] }>(url, "/api/internal/pipeline-runs", { method: "POST", body: parsed.data });
  if (!started) {
    console.error(`atrium run: nothing answers at ${url}. Start Atrium first (npm start), or give --url.`);
    return 2;
  }
  if (started.status !== 200) {
    console.error(`atrium run: ${started.body.error ?? `the portal answered ${started.status}`}`);
    return 2;
  }
  const runId = started.body.runId!;
  const get = async () => {
    const r = await callOperator<RunView & { error?: string }>(url, `/api/internal/pipeline-runs/${encodeURIComponent(runId)}?project=${encodeURIComponent(parsed.data.projectId)}`);
    if (!r || r.status !== 200) throw new Error(r ? (r.body.error ?? `the portal answered ${r.status}`) : `nothing answers at ${url} any more`);
    return r.body;
  };
  if (!values.wait) {
    const v = await get();
    if (values.json) console.log(JSON.stringify({ runId, state: v.state, jobs: v.counts, total: v.total, notes: v.notes, error: v.error }));
    else {
      console.log(runId);
      for (const n of v.notes) console.error(`note: ${n}`);
      if (v.error) console.error(`atrium run: ${v.error}`);
    }
    return v.state === "failed" ? 1 : 0;
  }
  if (!values.json) console.log(runId);
  let v = await get();
  let last = "";
  while (v.state === "queued" || v.state === "running") {
    const line = `${v.state}: ${Object.entries(v.counts).map(([s, n]) => `${n} ${s}`).join(", ")}`;
    if (!values.json && line !== last) console.error(line);
    last = line;
    await new Promise((r) => setTimeout(r, 1000));
    v = await get();
  }
  if (values.json) console.log(JSON.stringify({ runId, state: v.state, jobs: v.counts, total: v.total, error: v.error, notes: v.notes, results: v.results }));
  else {
    console.log(`${v.state}: ${Object.entries(v.counts).map(([s, n]) => `${n} ${s}`).join(", ")}${v.error ? ` — ${v.error}` : ""}`);
    for (const n of v.notes) console.log(`note: ${n}`);
    for (const r of v.results?.values ?? []) console.log(`  ${r.experimentId ?? "-"}${r.scanId ? `/${r.scanId}` : ""}  ${r.name} = ${JSON.stringify(r.value)}`);
    for (const r of v.results?.resources ?? []) console.log(`  ${r.experimentId ?? "-"}${r.scanId ? `/${r.scanId}` : ""}  resource ${r.name}: ${r.files.map((f) => `${f.name} (${f.size} bytes)`).join(", ")}`);
  }
  return v.state === "succeeded" ? 0 : 1;
}
