import { parseArgs } from "node:util";
import { SAMPLES_DIR } from "@/lib/samples";

export const summary = "Create the public demo project DEMO in the running Atrium and send the sample DICOM files into it.";

const usage = `Usage: atrium seed-demo [--url URL] [--samples DIR] [--owner EMAIL] [--readers N] [--wait SECONDS]

Run it next to a running Atrium (npm start), with the same ATRIUM_DATA_DIR. It creates project DEMO
(public; called AE title DEMO, open to any caller) and sends every DICOM file in DIR to it by C-STORE,
so they show up, de-identified, in the portal. Afterwards \`storescu -aec DEMO localhost 11112 FILES\`
sends more.

  --url URL       the running portal (default NEXTAUTH_URL or http://localhost:$PORT)
  --samples DIR   what to send (default: the shared sample folder, ${SAMPLES_DIR})
  --owner EMAIL   make this person an owner of DEMO (invited if they have not signed in yet)
  --readers N     add N reader accounts (reader1@demo.invalid …) as members of DEMO, in the pool of
                  the demo task group (sign in as them with the development sign-in); with N ≥ 2 a
                  new group asks two reads per case
  --wait SECONDS  how long to wait for the samples to be archived and to give them QC tasks
                  (default 120; 0: do not wait, run seed-demo again later to add the tasks)

It also creates the QC template "scan-qc" and the task group "Demo QC" over DEMO's experiments, so
there are tasks to do on My tasks.`;

export async function run(args: string[]) {
  const { values } = parseArgs({ args, options: { url: { type: "string" }, samples: { type: "string" }, owner: { type: "string" }, readers: { type: "string" }, wait: { type: "string" }, help: { type: "boolean", short: "h" } } });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const readers = values.readers === undefined ? undefined : Number(values.readers);
  if (readers !== undefined && !(Number.isInteger(readers) && readers >= 0 && readers <= 50)) {
    console.error("atrium seed-demo: --readers takes a whole number from 0 to 50.");
    return 2;
  }
  const waitSeconds = values.wait === undefined ? 120 : Number(values.wait);
  if (!(Number.isFinite(waitSeconds) && waitSeconds >= 0)) {
    console.error("atrium seed-demo: --wait takes a number of seconds (0 or more).");
    return 2;
  }
  // Loaded here, not at the top: `atrium --help` loads every command's module (see cli/main.ts).
  const [{ readEnv }, { callOperator }] = await Promise.all([import("@/lib/config"), import("@/server/local/operator")]);
  const env = readEnv();
  const url = values.url ?? env.NEXTAUTH_URL ?? `http://localhost:${env.PORT}`;
  type Answer = { error?: string; created?: boolean; dicomPort?: number; aeTitle?: string; projectId?: string; pipelines?: string[]; tasks?: { tasks: number; tasksAdded: number; readers: string[] } };
  const res = await callOperator<Answer>(url, "/api/internal/seed-demo", {
    method: "POST",
    body: { ...(values.owner ? { ownerEmail: values.owner } : {}), ...(readers !== undefined ? { readers } : {}) },
  });
  if (!res) {
    console.error(`atrium seed-demo: nothing answers at ${url}. Start Atrium first (npm start), or give --url.`);
    return 1;
  }
  if (res.status !== 200) {
    console.error(`atrium seed-demo: ${res.body.error ?? `the portal answered ${res.status}`}`);
    return 1;
  }
  const { dicomPort, aeTitle, projectId, created } = res.body;
  console.log(`atrium seed-demo: project ${projectId} ${created ? "created" : "already there"}; called AE title ${aeTitle}`);
  if (res.body.pipelines?.length) console.log(`pipelines registered in ${projectId}: ${res.body.pipelines.join(", ")} (run one: atrium run --project ${projectId} --pipeline dicom-stats --all --wait)`);
  if (res.body.tasks?.readers.length) console.log(`readers (development sign-in): ${res.body.tasks.readers.join(", ")}`);
  if (!dicomPort) {
    console.error("atrium seed-demo: the DICOM listener is off in the running Atrium (ATRIUM_DICOM_PORT=0 or --no-workers); nothing sent.");
    return 1;
  }
  const host = new URL(url).hostname;
  const { sendDicom } = await import("@/lib/dicom-net/scu");
  const result = await sendDicom([values.samples ?? SAMPLES_DIR], { host, port: dicomPort, calledAe: aeTitle!, callingAe: "SEED_DEMO", associations: 2 });
  console.log(
    `sent ${result.sent + result.warnings} instances (${(result.bytesSent / 1e6).toFixed(1)} MB in ${(result.durationMs / 1000).toFixed(1)} s); ` +
      `${result.skipped} files skipped and ${result.failed} refused by the sender side (not DICOM, no SOP UIDs, or syntaxes it cannot send).`,
  );
  console.log(`They are being de-identified now: open ${url}/projects/${projectId}, or run \`atrium status --project ${projectId}\`.`);
  // The demo task group gets a QC task per experiment once the samples are archived: top it up
  // until the count holds still for three polls (or the wait is over).
  let last = res.body.tasks?.tasks ?? 0;
  let still = 0;
  const deadline = Date.now() + waitSeconds * 1000;
  while (Date.now() < deadline && still < 3) {
    await new Promise((r) => setTimeout(r, 5000));
    const top = await callOperator<Answer>(url, "/api/internal/seed-demo", { method: "POST", body: { tasksOnly: true } });
    const n = top?.status === 200 ? (top.body.tasks?.tasks ?? 0) : last;
    still = n === last && n > 0 ? still + 1 : 0;
    last = n;
  }
  console.log(last > 0 ? `task group "Demo QC": ${last} QC tasks; open ${url}/tasks and press "Start next".` : `no QC tasks yet (the samples are not archived yet): run \`atrium seed-demo\` again later to add them.`);
  return result.failed > 0 && result.sent === 0 ? 1 : 0;
}
