// Issue #16: the governor's pure parts — conditions, the v8/pre-6 importer, the state machine,
// and the callback functions that need no other Atrium service (command, send_mail via a local
// SMTP server started here, sleep, and the pipeline/task adapters that are not wired yet).
import { describe, expect, it } from "vitest";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import {
  afterRun,
  canSetState,
  decide,
  enterState,
  evaluateCondition,
  expire,
  importWorkflowYaml,
  jsonPointer,
  mappedVariables,
  parseCondition,
  runCallback,
  stateOf,
  valuesFromStdout,
  WorkflowImportError,
  type Execution,
  type ExperimentFacts,
} from "@/lib/governor";

const V8 = `
label: mri_qc_v1
states:
  - {label: untracked, freetext: Entry, transitions: [{destination: received}]}
  - label: received
    freetext: Data in XNAT
    callbacks:
      - {label: convert, function: fastr, run_timeout: 120,
         callback_arguments: {network_id: prep, source_mapping: {t1: /scans/T1*/resources/DICOM},
                              sink_mapping: {t1_nii: "/scans/T1*/resources/NIFTI/files/image{ext}"}}}
    transitions:
      - {destination: qc, condition: "callbacks['convert'].result == 'success'"}
      - {destination: error}
  - label: qc
    freetext: Manual QA in ViewR
    callbacks:
      - {label: qa_task, function: create_task, wait_timeout: 10080, variable_map: {qa_task_uri: /task_uri},
         callback_arguments: {task_base: manual_qa.json, task_info: {project: p1, template: manual_qa, distribute_in_group: raters}}}
    transitions: [{destination: done}]
  - {label: done, freetext: Finished}
  - {label: error, freetext: Needs attention}
`;

const ctx = {
  executionId: "7",
  secret: "s3cret",
  experimentUrl: "http://atrium/api/v2/experiments/1",
  subjectUrl: "http://atrium/api/v2/subjects/1",
  executionUrl: "http://atrium/api/v2/callback_executions/7",
  experimentLabel: "EXP1",
  projectSlug: "p1",
};
const noServices = { programs: {}, smtp: null, startPipelineRun: null, createTasks: null };

describe("conditions", () => {
  const scope = {
    experiment: { label: "E1", variables: { qc_T1_usable: true, n: 3, tags: ["a", "b"] }, state: "qc", complete: false },
    callbacks: { qa: { status: "finished", result: "success", result_values: { score: 4 } } },
  };
  it("evaluates the reference's examples and the supported operators", () => {
    expect(evaluateCondition("experiment.variables['qc_T1_usable']", scope)).toBe(true);
    expect(evaluateCondition("callbacks['qa'].result == 'success'", scope)).toBe(true);
    expect(evaluateCondition("callbacks['qa'].result_values['score'] >= 4 and not experiment.complete", scope)).toBe(true);
    expect(evaluateCondition("'a' in experiment.variables.tags and 'c' not in experiment.variables.tags", scope)).toBe(true);
    expect(evaluateCondition("experiment.variables.n < 2 or experiment.state == 'done'", scope)).toBe(false);
    expect(evaluateCondition("experiment.variables.missing is None", scope)).toBe(true);
    expect(evaluateCondition("experiment.state in ['qc', 'done'] && True", scope)).toBe(true);
    expect(evaluateCondition("", scope)).toBe(true);
  });
  it("refuses code: calls, unknown names, prototype access, bad syntax", () => {
    expect(() => parseCondition("__import__('os').system('x')")).toThrow(/function calls are not allowed/);
    expect(() => evaluateCondition("process.exit", scope)).toThrow(/unknown name 'process'/);
    expect(() => evaluateCondition("experiment.constructor", scope)).toThrow(/not readable/);
    expect(() => parseCondition("a ==")).toThrow(/ends too early/);
    expect(() => parseCondition("a = 1")).toThrow(/unexpected character '='/);
    expect(() => parseCondition("'open")).toThrow(/unterminated string/);
  });
});

describe("importing workflow files", () => {
  it("imports the v8 example as it is", () => {
    const r = importWorkflowYaml(V8);
    expect(r.format).toBe("v8");
    expect(r.workflow.states.map((s) => s.label)).toEqual(["untracked", "received", "qc", "done", "error"]);
    const qa = stateOf(r.workflow, "qc").callbacks[0]!;
    expect(qa).toMatchObject({ function: "create_task", wait_timeout: 10080, run_timeout: 60, initial_delay: 0, variable_map: { qa_task_uri: "/task_uri" } });
  });
  it("imports pre-6 files (top-level transitions, one callback per state, YAML-text arguments)", () => {
    const r = importWorkflowYaml(`
label: old
states:
  - {label: start, freetext: s}
  - label: run
    lifespan: 10
    callback: {function: sleep, callback_arguments: "seconds: 1"}
  - {label: end}
transitions:
  - {source: start, destination: run}
  - {source: run, destination: end, condition: "callbacks['run_callback'].result == 'success'"}
`);
    expect(r.format).toBe("pre6");
    expect(stateOf(r.workflow, "run").callbacks[0]).toMatchObject({ label: "run_callback", function: "sleep", callback_arguments: { seconds: 1 } });
    expect(stateOf(r.workflow, "start").transitions).toEqual([{ destination: "run", condition: "" }]);
    expect(r.warnings.map((w) => w.message).join()).toMatch(/lifespan/);
  });
  const refused = (text: string) => {
    try {
      importWorkflowYaml(text);
    } catch (e) {
      expect(e).toBeInstanceOf(WorkflowImportError);
      return (e as WorkflowImportError).problems;
    }
    throw new Error("import did not fail");
  };
  it("refuses python_function and castor with the line", () => {
    const p = refused(`label: w\nstates:\n  - label: a\n    callbacks:\n      - label: py\n        function: python_function\n`);
    expect(p[0]).toMatchObject({ line: 6 });
    expect(p[0]!.message).toMatch(/python_function.*external_program/);
  });
  it("refuses unknown destinations, two roots, conditions that do not parse, schema errors, YAML errors", () => {
    expect(refused(`label: w\nstates:\n  - label: a\n    transitions: [{destination: nowhere}]\n`).map((p) => p.message).join()).toMatch(/unknown state 'nowhere'/);
    expect(refused(`label: w\nstates:\n  - {label: a, transitions: [{destination: c}]}\n  - {label: b, transitions: [{destination: c}]}\n  - {label: c}\n`)[0]!.message).toMatch(/2 root states \(a, b\)/);
    const c = refused(`label: w\nstates:\n  - label: a\n    transitions:\n      - {destination: b, condition: "x =="}\n  - {label: b}\n`);
    expect(c[0]!.message).toMatch(/condition does not parse/);
    expect(c[0]!.line).toBe(5);
    const s = refused(`label: w\nstates:\n  - label: a\n    callbacks:\n      - {label: x, function: sleep, run_timeout: soon}\n`);
    expect(s[0]!.line).toBe(5);
    expect(s[0]!.message).toMatch(/run_timeout/);
    expect(refused(`label: w\nstates: [\n`)[0]!.line).toBeGreaterThan(0);
  });
});

describe("the state machine", () => {
  const wf = importWorkflowYaml(V8).workflow;
  const now = new Date("2026-01-01T00:00:00Z");
  const exp = (state: string | null, variables: Record<string, unknown> = {}): ExperimentFacts => ({ label: "E1", state, variables });
  it("starts at the root, waits for unresolved executions, then takes the first true transition", () => {
    expect(decide(wf, exp(null), [], now)).toMatchObject({ kind: "transition", to: "untracked" });
    expect(decide(wf, exp("untracked"), [], now)).toMatchObject({ kind: "transition", to: "received" });
    const execs = enterState(wf, "received", exp("received"), [], now);
    expect(execs.map((e) => e.status)).toEqual(["created"]);
    expect(decide(wf, exp("received"), execs, now)).toMatchObject({ kind: "wait" });
    execs[0]!.status = "running";
    execs[0]!.runStart = now;
    Object.assign(execs[0]!, afterRun(stateOf(wf, "received").callbacks[0]!, true, now));
    expect(execs[0]).toMatchObject({ status: "finished", result: "success" });
    expect(decide(wf, exp("received"), execs, now)).toMatchObject({ kind: "transition", to: "qc" });
    execs[0]!.result = "failed";
    const d = decide(wf, exp("received"), execs, now);
    expect(d).toMatchObject({ kind: "transition", to: "error", trace: [{ destination: "qc", test_result: false }, { destination: "error", test_result: true }] });
  });
  it("a waiting callback times out after wait_timeout; a running one after run_timeout", () => {
    const qc = stateOf(wf, "qc");
    const [e] = enterState(wf, "qc", exp("qc"), [], now) as [Execution];
    Object.assign(e, { status: "running", runStart: now }, afterRun(qc.callbacks[0]!, true, now));
    expect(e.status).toBe("waiting");
    expect(expire(qc, [e], new Date(now.getTime() + 10079 * 60_000))).toEqual([]);
    expect(expire(qc, [e], new Date(now.getTime() + 10080 * 60_000))).toHaveLength(1);
    expect(e).toMatchObject({ status: "finished", result: "timeout" });
    const rec = stateOf(wf, "received");
    const [r] = enterState(wf, "received", exp("received"), [], now) as [Execution];
    Object.assign(r, { status: "running", runStart: now });
    expect(expire(rec, [r], new Date(now.getTime() + 120 * 60_000))[0]).toMatchObject({ result: "timeout" });
  });
  it("a callback whose condition is false is skipped, and the state advances by itself", () => {
    const w = importWorkflowYaml(`label: w\nstates:\n  - {label: a, transitions: [{destination: b}]}\n  - label: b\n    callbacks: [{label: m, function: sleep, condition: "experiment.variables.notify == True"}]\n    transitions: [{destination: c}]\n  - {label: c}\n`).workflow;
    const execs = enterState(w, "b", exp("b", { notify: false }), [], now);
    expect(execs[0]!.status).toBe("skipped");
    expect(decide(w, exp("b"), execs, now)).toMatchObject({ kind: "transition", to: "c" });
    expect(decide(w, exp("c"), [], now)).toMatchObject({ kind: "stay" });
  });
  it("variable_map by JSON pointer, only on success", () => {
    const cb = stateOf(wf, "qc").callbacks[0]!;
    expect(mappedVariables(cb, { result: "success", resultValues: { task_uri: "http://t/1" } })).toEqual({ qa_task_uri: "http://t/1" });
    expect(mappedVariables(cb, { result: "failed", resultValues: { task_uri: "x" } })).toEqual({});
    expect(mappedVariables(cb, { result: "success", resultValues: { other: 1 } })).toEqual({ qa_task_uri: null });
    expect(jsonPointer({ a: [{ "b/c": 1 }] }, "a/0/b~1c")).toBe(1);
  });
  it("a manual state change needs a direct transition", () => {
    expect(canSetState(wf, "qc", "done")).toBe(true);
    expect(canSetState(wf, "qc", "error")).toBe(false);
    expect(canSetState(wf, "qc", "nope")).toBe(false);
  });
});

describe("callback functions", () => {
  it("command runs only registered programs, substitutes the execution's values and reads __VALUES__", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gov-"));
    const prog = path.join(dir, "prog.sh");
    fs.writeFileSync(prog, `#!/bin/sh\necho "got $1 $2 $3"\necho '__VALUES__ = {"score": 5}'\n`, { mode: 0o755 });
    const svc = { ...noServices, programs: { qc: prog } };
    const ok = await runCallback("external_program", ctx, { binary: "qc", args: ["$EXPERIMENT"], kwargs: { "--secret": "$CALLBACK_SECRET" } }, svc);
    expect(ok.success).toBe(true);
    expect(ok.values.score).toBe(5);
    expect(ok.log).toContain(`got ${ctx.experimentUrl} --secret s3cret`);
    const bad = await runCallback("command", ctx, { binary: prog }, svc);
    expect(bad).toMatchObject({ success: false });
    expect(bad.log).toMatch(/not registered/);
    expect(valuesFromStdout("x\n__VALUES__ = not json\n")).toEqual({});
  });
  it("send_mail talks SMTP to the configured server", async () => {
    const got: string[] = [];
    const server = net.createServer((s) => {
      s.write("220 test\r\n");
      let data = false;
      let buf = "";
      s.on("data", (d) => {
        buf += d.toString();
        let i;
        while ((i = buf.indexOf("\r\n")) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 2);
          got.push(line);
          if (data) {
            if (line === ".") {
              data = false;
              s.write("250 queued\r\n");
            }
          } else if (line === "DATA") {
            data = true;
            s.write("354 go\r\n");
          } else if (line === "QUIT") s.end("221 bye\r\n");
          else s.write("250 ok\r\n");
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const r = await runCallback("send_mail", ctx, { subject: "QC for {experiment}", body: "See {experiment_url}" }, { ...noServices, smtp: { host: "127.0.0.1", port, from: "a@x", to: ["b@x"] } });
      expect(r.success).toBe(true);
      expect(got).toContain("RCPT TO:<b@x>");
      expect(got).toContain("Subject: QC for EXP1");
      expect(got).toContain(`See ${ctx.experimentUrl}`);
    } finally {
      server.close();
    }
  });
  it("fastr and create_task fail with a clear reason until the lead wires them; with an adapter they call it", async () => {
    const f = await runCallback("fastr", ctx, { network_id: "prep" }, noServices);
    expect(f).toMatchObject({ success: false, log: "pipelines are not available in this build" });
    expect((await runCallback("create_task", ctx, {}, noServices)).log).toBe("tasks are not available in this build");
    let seen: unknown;
    const r = await runCallback("create_task", ctx, { task_base: "qa.json" }, {
      ...noServices,
      createTasks: async (req) => {
        seen = req;
        return { taskIds: ["t1"], uri: "http://atrium/tasks/t1" };
      },
    });
    expect(r).toMatchObject({ success: true, values: { task_ids: ["t1"] } });
    expect(seen).toMatchObject({ kind: "task", callbackSecret: "s3cret", arguments: { task_base: "qa.json" } });
  });
  it("sleep", async () => {
    let slept = -1;
    const r = await runCallback("sleep", ctx, { seconds: 2 }, { ...noServices, sleep: async (ms) => void (slept = ms) });
    expect(r.success).toBe(true);
    expect(slept).toBe(2000);
  });
});

describe("shipped workflows", () => {
  const dir = path.join(__dirname, "../../workflows");
  it("the default workflow and the examples import", () => {
    const d = importWorkflowYaml(fs.readFileSync(path.join(dir, "default.yaml"), "utf8"));
    expect(d.workflow.states[0]!.label).toBe("received");
    expect(stateOf(d.workflow, "qc").transitions.map((t) => t.destination)).toEqual(["done", "qc_failed"]);
    expect(importWorkflowYaml(fs.readFileSync(path.join(dir, "examples/mri_qc_v8.yaml"), "utf8")).format).toBe("v8");
    const p = importWorkflowYaml(fs.readFileSync(path.join(dir, "examples/notify_pre6.yaml"), "utf8"));
    expect(p.format).toBe("pre6");
    expect(stateOf(p.workflow, "scoring").callbacks[0]!.variable_map).toEqual({ score: "/score" });
  });
  it("in the default workflow, a failed QC goes to qc_failed", () => {
    const wf = importWorkflowYaml(fs.readFileSync(path.join(dir, "default.yaml"), "utf8")).workflow;
    const now = new Date();
    const execs = enterState(wf, "qc", { label: "E", state: "qc", variables: {} }, [], now);
    Object.assign(execs[0]!, { status: "finished", result: "success" });
    expect(decide(wf, { label: "E", state: "qc", variables: { qc_passed: false } }, execs, now)).toMatchObject({ to: "qc_failed" });
    expect(decide(wf, { label: "E", state: "qc", variables: { qc_passed: true } }, execs, now)).toMatchObject({ to: "done" });
    expect(decide(wf, { label: "E", state: "received", variables: {}, archived: true }, [], now)).toMatchObject({ to: "archived" });
  });
});

describe("the callback execution protocol", () => {
  it("accepts secret_key or secret, refuses a wrong one (403) and updates after resolution (409)", async () => {
    const { callbackExecutionUpdateSchema, checkUpdate, hashSecret, newCallbackSecret } = await import("@/lib/governor");
    const secret = newCallbackSecret();
    expect(secret).toMatch(/^[0-9a-f]{256}$/);
    const cur = { status: "waiting" as const, secretHash: hashSecret(secret) };
    const body = callbackExecutionUpdateSchema.parse({ status: "finished", result: "success", secret_key: secret });
    expect(checkUpdate(cur, body)).toEqual({ ok: true });
    expect(checkUpdate(cur, callbackExecutionUpdateSchema.parse({ status: "running", secret }))).toEqual({ ok: true });
    expect(checkUpdate(cur, { ...body, secret_key: "0".repeat(256) })).toMatchObject({ ok: false, status: 403 });
    expect(checkUpdate({ ...cur, status: "finished" }, body)).toMatchObject({ ok: false, status: 409 });
    expect(callbackExecutionUpdateSchema.safeParse({ status: "done" }).success).toBe(false);
  });
});

describe("webhook callback", () => {
  it("POSTs a signed body through the injected outbound fetch and reports the status", async () => {
    const { webhookSignature } = await import("@/lib/governor");
    let sent: { url: string; body: string; headers: Record<string, string> } | null = null;
    const fetch = (async (url: URL, init: { body: string; headers: Record<string, string> }) => {
      sent = { url: url.href, body: init.body, headers: init.headers };
      return new Response("ok", { status: 202 });
    }) as never;
    const r = await runCallback("webhook", ctx, { url: "https://hooks.example.org/x", payload: { kind: "qc" } }, { ...noServices, fetch, webhookSecret: "k" });
    expect(r).toMatchObject({ success: true, values: { response_status_code: 202 } });
    const s = sent!;
    expect(JSON.parse(s.body)).toMatchObject({ kind: "qc", callback_execution: ctx.executionUrl, secret_key: "s3cret" });
    expect(s.headers["x-atrium-signature"]).toBe(`sha256=${webhookSignature("k", Number(s.headers["x-atrium-timestamp"]), s.body)}`);
    expect((await runCallback("webhook", ctx, { url: "not a url" }, noServices)).log).toMatch(/bad callback_arguments: url/);
  });
});
