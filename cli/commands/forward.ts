import { parseArgs } from "node:util";

export const summary = "Add a project's forward destination (C-STORE node or STOW-RS server), or print forwarding by state.";

const usage = `Usage:
  atrium forward add --project P (--dicom HOST:PORT --aet AET | --stow URL [--token T | --user U --password PW])
                     [--name NAME] [--calling-aet AET] [--associations N] [--filter EXPR] [--when archived|stable]
                     [--disabled] [--backfill] [--json]
  atrium forward status --project P [--json]

add     Adds a destination, as the Forwarding panel of the Archive tab does (audited, the token sealed).
        --dicom: a DICOM node by C-STORE (the receiver's AE title with --aet; Atrium calls as ATRIUM
        unless --calling-aet). --stow: a DICOMweb root URL (the part before /studies), with a bearer
        --token or basic --user/--password. --filter: a routing rule as on the Intake tab, e.g.
        'Modality == "MR"'. --backfill: also send the studies the project already holds (else only
        new ones). Prints the destination (with --json, as JSON).
status  Per destination: studies by state (queued, sending, verified, sent but not verified, failed)
        and instances by outcome; the latest failures with their reasons.

Reads DATABASE_URL (PostgreSQL) and ATRIUM_SECRET_KEY, REDIS_URL as the running Atrium does. With the
embedded database, run it while Atrium is stopped.`;

export async function run(args: string[]) {
  const [sub, ...rest] = args;
  if (!sub || sub === "--help" || sub === "-h") {
    console.log(usage);
    return sub ? 0 : 2;
  }
  if (sub !== "add" && sub !== "status") {
    console.error(`atrium forward: unknown subcommand "${sub}" (add or status).\n\n${usage}`);
    return 2;
  }
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: rest,
      options: {
        project: { type: "string" },
        dicom: { type: "string" },
        aet: { type: "string" },
        "calling-aet": { type: "string" },
        associations: { type: "string" },
        stow: { type: "string" },
        token: { type: "string" },
        user: { type: "string" },
        password: { type: "string" },
        name: { type: "string" },
        filter: { type: "string" },
        when: { type: "string" },
        disabled: { type: "boolean" },
        backfill: { type: "boolean" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }).values;
  } catch (e) {
    console.error(`atrium forward ${sub}: ${(e as Error).message}\n\n${usage}`);
    return 2;
  }
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const [{ projectIdSchema }, { destinationFields }] = await Promise.all([import("@/lib/projects"), import("@/lib/forward/schema")]);
  const projectId = projectIdSchema.safeParse(values.project ?? "");
  if (!projectId.success) {
    console.error(`atrium forward ${sub}: ${values.project ? projectId.error.issues[0]!.message : "--project P is required."}\n\n${usage}`);
    return 2;
  }

  let destination: ReturnType<typeof destinationFields.parse> | undefined;
  if (sub === "add") {
    const str = (k: string) => (typeof values[k] === "string" ? (values[k] as string) : undefined);
    if (Boolean(str("dicom")) === Boolean(str("stow"))) {
      console.error(`atrium forward add: give either --dicom HOST:PORT (with --aet) or --stow URL.\n\n${usage}`);
      return 2;
    }
    let raw: Record<string, unknown>;
    const common = { enabled: !values.disabled, trigger: str("when") ?? "archived", filter: str("filter") ?? "" };
    if (str("dicom")) {
      const m = /^(.+):(\d{1,5})$/.exec(str("dicom")!);
      if (!m) {
        console.error("atrium forward add: --dicom is HOST:PORT, e.g. pacs.example.org:104.");
        return 2;
      }
      if (!str("aet")) {
        console.error("atrium forward add: --aet AET (the receiver's AE title) is required with --dicom.");
        return 2;
      }
      raw = {
        kind: "dicom",
        name: str("name") ?? `${str("aet")}@${m[1]}`,
        ...common,
        host: m[1]!.replace(/^\[(.*)\]$/, "$1"),
        port: Number(m[2]),
        calledAe: str("aet"),
        callingAe: str("calling-aet") ?? "ATRIUM",
        associations: str("associations") ? Number(str("associations")) : 1,
      };
    } else {
      if (str("token") && (str("user") || str("password"))) {
        console.error("atrium forward add: give --token, or --user and --password, not both.");
        return 2;
      }
      const authKind = str("token") ? "bearer" : str("user") || str("password") ? "basic" : "none";
      let name = str("name");
      if (!name) {
        try {
          name = new URL(str("stow")!).host;
        } catch {
          name = "DICOMweb";
        }
      }
      raw = { kind: "stow", name, ...common, stowUrl: str("stow"), authKind, authUser: str("user"), secret: str("token") ?? str("password") };
    }
    const parsed = destinationFields.safeParse(raw);
    if (!parsed.success) {
      const flag: Record<string, string> = { host: "--dicom", port: "--dicom", calledAe: "--aet", callingAe: "--calling-aet", associations: "--associations", stowUrl: "--stow", authUser: "--user", secret: "--token/--password", filter: "--filter", trigger: "--when", name: "--name" };
      for (const i of parsed.error.issues) console.error(`atrium forward add: ${flag[String(i.path[0])] ? `${flag[String(i.path[0])]}: ` : ""}${i.message}`);
      return 2;
    }
    destination = parsed.data;
  }

  const [{ openDb }, { createDestination, forwardStatus, view }] = await Promise.all([import("@/server/db"), import("@/server/forward/destinations")]);
  const handle = await openDb();
  try {
    const project = await handle.prisma.project.findUnique({ where: { id: projectId.data } });
    if (!project) {
      console.error(`atrium forward ${sub}: no project "${projectId.data}". List them in the portal, or check the id's case.`);
      return 2;
    }
    if (sub === "add") {
      const created = await createDestination(handle.prisma, { projectId: project.id, actorId: null, destination: destination!, backfill: Boolean(values.backfill) });
      const queued = await handle.prisma.studyForward.count({ where: { destinationId: created.id, state: "queued" } });
      const v = view(created);
      if (values.json) console.log(JSON.stringify({ ...v, backfill: Boolean(values.backfill), queuedStudies: queued }, null, 2));
      else {
        console.log(`added ${v.name} (${v.id}) to ${project.id}: ${v.kind === "dicom" ? `C-STORE to ${v.calledAe}@${v.host}:${v.port} as ${v.callingAe}` : `STOW-RS to ${v.stowUrl}`}${v.filter ? `, filter ${v.filter}` : ""}${v.enabled ? "" : " (disabled)"}`);
        console.log(values.backfill ? `${queued} stud${queued === 1 ? "y" : "ies"} the project holds queued for it` : "only new studies are forwarded (--backfill also sends those the project holds)");
      }
      return 0;
    }
    const status = await forwardStatus(handle.prisma, project.id, 5);
    if (values.json) {
      console.log(JSON.stringify(status.map((s) => ({ destination: s.destination, studies: s.studies, instances: s.instances, failures: s.failures.slice(0, 5) })), null, 2));
      return 0;
    }
    console.log(`${project.id} — ${project.name}`);
    if (!status.length) console.log("no forward destination (add one with `atrium forward add`)");
    for (const s of status) {
      const d = s.destination;
      const st = s.studies;
      console.log(`\n${d.name} (${d.kind === "dicom" ? `C-STORE ${d.calledAe}@${d.host}:${d.port}` : `STOW-RS ${d.stowUrl}`})${d.enabled ? "" : " [disabled]"}${d.filter ? ` filter: ${d.filter}` : ""}`);
      console.log(`  studies:   ${st.queued} queued · ${st.sending} sending · ${st.verified} verified · ${st.sent} sent, not verified · ${st.failed} failed${st.skipped ? ` · ${st.skipped} held before, not sent` : ""}`);
      console.log(`  instances: ${s.instances.success} delivered · ${s.instances.warning} with a warning · ${s.instances.failed} failed · ${s.instances.filtered} excluded by the filter`);
      for (const f of s.forwards.filter((x) => x.state === "failed")) console.log(`  failed: ${f.subjectLabel}: ${f.lastError}${f.nextAttemptAt ? ` (next attempt ${f.nextAttemptAt.toISOString()})` : ""}`);
    }
    return 0;
  } finally {
    await handle.close();
    const [{ closeQueues }, { closeSharedRedis }] = await Promise.all([import("@/server/queues"), import("@/server/redis")]);
    await closeQueues().catch(() => undefined);
    await closeSharedRedis().catch(() => undefined);
  }
}
