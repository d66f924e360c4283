// Callback functions run on entering a workflow state (issue #16). Each takes the execution
// context, its arguments and the services it may use (injected: programs registered by a site
// admin, SMTP, outbound fetch, and the pipeline/task adapters the lead wires after merging).
import { runCommand } from "@/lib/process";
import { createHmac } from "node:crypto";
import { sendSmtp, smtpConfig } from "@/lib/mail/smtp";
import { z } from "zod";
import { outboundFetch } from "@/lib/outbound";

export interface CallbackContext {
  executionId: string;
  secret: string;
  /** absolute API URLs (never carry PHI: ids only) */
  experimentUrl: string;
  subjectUrl: string;
  executionUrl: string;
  experimentLabel: string;
  projectSlug: string;
}

export interface CallbackOutcome {
  success: boolean;
  values: Record<string, unknown>;
  log: string;
  /**
   * The work goes on elsewhere (a pipeline run): the execution stays running, bounded by its
   * run_timeout, until that work resolves it through the callback protocol — as fastr's launcher
   * ran for the whole pipeline in Study Governor.
   */
  running?: boolean;
}

export interface PipelineRunRequest {
  projectSlug: string;
  experimentUrl: string;
  networkId: string;
  sourceMapping: Record<string, unknown>;
  sinkMapping: Record<string, unknown>;
  callbackUrl: string;
  callbackSecret: string;
}
/** The id at the end of an API URL handed to a callback (an experiment's, an execution's). */
export const lastPathSegment = (url: string) => new URL(url, "http://x").pathname.split("/").filter(Boolean).pop() ?? "";

export interface TaskRequest {
  projectSlug: string;
  experimentUrl: string;
  kind: "task" | "taskgroup";
  arguments: Record<string, unknown>;
  callbackUrl: string;
  callbackSecret: string;
}

/** The services callbacks use; the pipeline and task adapters are null until wired. */
export interface CallbackServices {
  /** site-admin registered programs: name → absolute path */
  programs: Record<string, string>;
  smtp: { host: string; port: number; from: string; to: string[] } | null;
  fetch?: typeof outboundFetch;
  webhookSecret?: string;
  startPipelineRun: ((req: PipelineRunRequest) => Promise<{ runId: string; uri?: string }>) | null;
  createTasks: ((req: TaskRequest) => Promise<{ taskIds: string[]; uri?: string }>) | null;
  sleep?: (ms: number) => Promise<void>;
}

export class CallbackUnavailableError extends Error {
  override name = "CallbackUnavailableError";
}

type Fn = (ctx: CallbackContext, args: Record<string, unknown>, svc: CallbackServices) => Promise<CallbackOutcome>;

const commandArgs = z.object({
  binary: z.string().min(1),
  args: z.array(z.union([z.string(), z.number()])).default([]),
  kwargs: z.record(z.string(), z.union([z.string(), z.number()])).default({}),
  expected_return_code: z.union([z.number().int(), z.array(z.number().int())]).default(0),
});

function substitute(s: string, ctx: CallbackContext): string {
  return s
    .replaceAll("$EXPERIMENT", ctx.experimentUrl)
    .replaceAll("$SUBJECT", ctx.subjectUrl)
    .replaceAll("$CALLBACK_EXECUTION", ctx.executionUrl)
    .replaceAll("$CALLBACK_SECRET", ctx.secret);
}

/** Parses the last `__VALUES__ = {json}` line of a program's stdout. */
export function valuesFromStdout(stdout: string): Record<string, unknown> {
  let out: Record<string, unknown> = {};
  for (const line of stdout.split("\n")) {
    const m = /^__VALUES__\s*=\s*(.+)$/.exec(line.trim());
    if (!m) continue;
    try {
      const v = JSON.parse(m[1]!) as unknown;
      if (v && typeof v === "object" && !Array.isArray(v)) out = v as Record<string, unknown>;
    } catch {
      /* not JSON: ignored, reported in the log */
    }
  }
  return out;
}

const command: Fn = async (ctx, rawArgs, svc) => {
  const a = commandArgs.parse(rawArgs);
  const path = svc.programs[a.binary];
  if (!path)
    return {
      success: false,
      values: {},
      log: `program '${a.binary}' is not registered; a site admin registers programs (ATRIUM_GOVERNOR_PROGRAMS) — arbitrary paths are not run`,
    };
  const argv = [...a.args.map((x) => substitute(String(x), ctx))];
  for (const [k, v] of Object.entries(a.kwargs)) argv.push(k, substitute(String(v), ctx));
  const r = await runCommand(path, argv, { env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } as unknown as NodeJS.ProcessEnv, maxOutputChars: 1_000_000 });
  const code = r.code ?? -1;
  const { stdout } = r;
  const stderr = r.stderr + (r.error ?? "");
  const expected = Array.isArray(a.expected_return_code) ? a.expected_return_code : [a.expected_return_code];
  return {
    success: expected.includes(code),
    values: { command: a.binary, return_code: code, values: valuesFromStdout(stdout), ...valuesFromStdout(stdout) },
    log: `${stdout.slice(-20_000)}${stderr ? `\n[stderr]\n${stderr.slice(-20_000)}` : ""}`,
  };
};

const mailArgs = z.object({ subject: z.string().default("Atrium workflow"), body: z.string().default("") });

const sendMail: Fn = async (ctx, raw, svc) => {
  if (!svc.smtp) return { success: false, values: {}, log: "mail is not configured (set ATRIUM_SMTP_HOST, ATRIUM_SMTP_PORT, ATRIUM_MAIL_FROM, ATRIUM_GOVERNOR_MAIL_TO)" };
  const a = mailArgs.parse(raw);
  const fill = (s: string) =>
    s.replaceAll("{experiment}", ctx.experimentLabel).replaceAll("{experiment_url}", ctx.experimentUrl).replaceAll("{experiment_api_url}", ctx.experimentUrl).replaceAll("{action_url}", ctx.executionUrl).replaceAll("{action_api_url}", ctx.executionUrl);
  const subject = fill(a.subject);
  const body = fill(a.body);
  await sendSmtp({ host: svc.smtp.host, port: svc.smtp.port, from: svc.smtp.from }, { to: svc.smtp.to, subject, body });
  return { success: true, values: { sender: svc.smtp.from, recipient: svc.smtp.to.join(", "), subject }, log: "mail sent" };
};

const webhookArgs = z.object({ url: z.string().url(), payload: z.record(z.string(), z.unknown()).default({}) });

/** Signs a webhook body: hex HMAC-SHA256 over "<timestamp>.<body>". */
export function webhookSignature(secret: string, timestamp: number, body: string): string {
  return createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex");
}

const webhook: Fn = async (ctx, raw, svc) => {
  const a = webhookArgs.parse(raw);
  const body = JSON.stringify({ experiment: ctx.experimentUrl, callback_execution: ctx.executionUrl, secret_key: ctx.secret, ...a.payload });
  const ts = Math.floor(Date.now() / 1000);
  const headers: Record<string, string> = { "content-type": "application/json", "x-atrium-timestamp": String(ts) };
  if (svc.webhookSecret) headers["x-atrium-signature"] = `sha256=${webhookSignature(svc.webhookSecret, ts, body)}`;
  const res = await (svc.fetch ?? outboundFetch)(new URL(a.url), { method: "POST", body, headers });
  await res.text().catch(() => "");
  return { success: res.ok, values: { response_status_code: res.status }, log: `POST ${new URL(a.url).origin} → ${res.status}` };
};

const sleep: Fn = async (_ctx, raw, svc) => {
  const s = z.object({ seconds: z.number().nonnegative().max(3600).default(1) }).parse(raw).seconds;
  await (svc.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms))))(s * 1000);
  return { success: true, values: { seconds: s }, log: `slept ${s} s` };
};

const fastr: Fn = async (ctx, raw, svc) => {
  if (!svc.startPipelineRun) throw new CallbackUnavailableError("pipelines are not available in this build");
  const a = z
    .object({ network_id: z.string().min(1), source_mapping: z.record(z.string(), z.unknown()).default({}), sink_mapping: z.record(z.string(), z.unknown()).default({}) })
    .passthrough()
    .parse(raw);
  const r = await svc.startPipelineRun({
    projectSlug: ctx.projectSlug,
    experimentUrl: ctx.experimentUrl,
    networkId: a.network_id,
    sourceMapping: a.source_mapping,
    sinkMapping: a.sink_mapping,
    callbackUrl: ctx.executionUrl,
    callbackSecret: ctx.secret,
  });
  return { success: true, running: true, values: { network_id: a.network_id, run_id: r.runId, run_uri: r.uri ?? null }, log: `pipeline run ${r.runId} started; this callback finishes when the run ends` };
};

const taskFn =
  (kind: "task" | "taskgroup"): Fn =>
  async (ctx, raw, svc) => {
    if (!svc.createTasks) throw new CallbackUnavailableError("tasks are not available in this build");
    const r = await svc.createTasks({ projectSlug: ctx.projectSlug, experimentUrl: ctx.experimentUrl, kind, arguments: raw, callbackUrl: ctx.executionUrl, callbackSecret: ctx.secret });
    return { success: true, values: { task_ids: r.taskIds, task_uri: r.uri ?? null }, log: `${r.taskIds.length} task(s) created` };
  };

export const CALLBACKS: Record<string, Fn> = {
  command,
  external_program: command,
  send_mail: sendMail,
  webhook,
  sleep,
  fastr,
  create_task: taskFn("task"),
  create_taskgroup: taskFn("taskgroup"),
};

/** Runs one callback; failures become an unsuccessful outcome with the reason (never a fake success). */
export async function runCallback(fn: string, ctx: CallbackContext, args: Record<string, unknown>, svc: CallbackServices): Promise<CallbackOutcome> {
  const f = CALLBACKS[fn];
  if (!f) return { success: false, values: {}, log: `unknown callback function '${fn}'` };
  try {
    return await f(ctx, args, svc);
  } catch (e) {
    const msg = e instanceof z.ZodError ? `bad callback_arguments: ${e.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}` : e instanceof Error ? e.message : String(e);
    return { success: false, values: { __exception__: msg }, log: msg };
  }
}

/** Services from the environment; the pipeline/task adapters are passed by whoever wires them. */
export function servicesFromEnv(
  env: NodeJS.ProcessEnv,
  adapters: Pick<CallbackServices, "startPipelineRun" | "createTasks"> = { startPipelineRun: null, createTasks: null },
): CallbackServices {
  const programs: Record<string, string> = {};
  for (const pair of (env.ATRIUM_GOVERNOR_PROGRAMS ?? "").split(",").filter(Boolean)) {
    const [name, p] = pair.split("=");
    if (name && p && p.startsWith("/")) programs[name.trim()] = p.trim();
  }
  const server = smtpConfig(env);
  const smtp = server ? { ...server, to: (env.ATRIUM_GOVERNOR_MAIL_TO ?? "").split(",").map((s) => s.trim()).filter(Boolean) } : null;
  return { programs, smtp, webhookSecret: env.ATRIUM_GOVERNOR_WEBHOOK_SECRET, ...adapters };
}
