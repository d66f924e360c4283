import { parseArgs } from "node:util";
import { readEnv } from "@/lib/config";
import { SAMPLES_DIR } from "@/lib/samples";
import { sendDicom } from "@/lib/dicom-net/scu";
import { callOperator } from "@/server/local/operator";

export const summary = "Create the public demo project DEMO in the running Atrium and send the sample DICOM files into it.";

const usage = `Usage: atrium seed-demo [--url URL] [--samples DIR] [--owner EMAIL]

Run it next to a running Atrium (npm start), with the same ATRIUM_DATA_DIR. It creates project DEMO
(public; called AE title DEMO, open to any caller) and sends every DICOM file in DIR to it by C-STORE,
so they show up, de-identified, in the portal. Afterwards \`storescu -aec DEMO localhost 11112 FILES\`
sends more.

  --url URL       the running portal (default NEXTAUTH_URL or http://localhost:$PORT)
  --samples DIR   what to send (default: the shared sample folder, ${SAMPLES_DIR})
  --owner EMAIL   make this person an owner of DEMO (invited if they have not signed in yet)`;

export async function run(args: string[]) {
  const { values } = parseArgs({ args, options: { url: { type: "string" }, samples: { type: "string" }, owner: { type: "string" }, help: { type: "boolean", short: "h" } } });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const env = readEnv();
  const url = values.url ?? env.NEXTAUTH_URL ?? `http://localhost:${env.PORT}`;
  const res = await callOperator<{ error?: string; created?: boolean; dicomPort?: number; aeTitle?: string; projectId?: string }>(url, "/api/internal/seed-demo", {
    method: "POST",
    body: values.owner ? { ownerEmail: values.owner } : {},
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
  if (!dicomPort) {
    console.error("atrium seed-demo: the DICOM listener is off in the running Atrium (ATRIUM_DICOM_PORT=0 or --no-workers); nothing sent.");
    return 1;
  }
  const host = new URL(url).hostname;
  const result = await sendDicom([values.samples ?? SAMPLES_DIR], { host, port: dicomPort, calledAe: aeTitle!, callingAe: "SEED_DEMO", associations: 2 });
  console.log(
    `sent ${result.sent + result.warnings} instances (${(result.bytesSent / 1e6).toFixed(1)} MB in ${(result.durationMs / 1000).toFixed(1)} s); ` +
      `${result.skipped} files skipped and ${result.failed} refused by the sender side (not DICOM, no SOP UIDs, or syntaxes it cannot send).`,
  );
  console.log(`They are being de-identified now: open ${url}/projects/${projectId}, or run \`atrium status --project ${projectId}\`.`);
  return result.failed > 0 && result.sent === 0 ? 1 : 0;
}
