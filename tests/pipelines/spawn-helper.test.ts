// The local executor's spawn helper (lib/pipelines/executors/spawner.ts): jobs started from a small
// helper process keep the executor's behaviour — the concurrency limit (enforced in the helper),
// exit codes, the log, the environment, a job that ends before its worker waits still reports its own outcome — and
// the in-process path (spawnHelper: false, or a helper that is gone) does the same.
import { describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createLocalExecutor } from "@/lib/pipelines/executors/local";
import { SpawnHelper } from "@/lib/pipelines/executors/spawner";
import type { JobSpec } from "@/lib/pipelines/executors/types";

const dir = mkdtempSync(path.join(tmpdir(), "atrium-spawn-helper-"));
let n = 0;
function spec(command: string[], over: Partial<JobSpec> = {}): JobSpec {
  const id = `job${++n}`;
  return { jobId: id, command, workDir: path.join(dir, id), logPath: path.join(dir, id, "log.txt"), cores: 1, memoryMb: 512, wallTimeSeconds: 30, ...over };
}

describe("spawn helper", () => {
  it("runs at most `concurrency` jobs at once and reports every exit", async () => {
    const ex = createLocalExecutor({ concurrency: 2, pollMs: 50 });
    const marks = path.join(dir, "marks");
    const specs = Array.from({ length: 6 }, () => spec(["sh", "-c", `echo start $(date +%s%N) >> ${marks}; sleep 0.2; echo end $(date +%s%N) >> ${marks}`]));
    const outcomes = await Promise.all(specs.map(async (s) => ex.wait(await ex.submit(s), s)));
    for (const o of outcomes) expect(o).toMatchObject({ state: "succeeded", exitCode: 0 });
    // Never more than two between a start and an end.
    let now = 0;
    let most = 0;
    const events = readFileSync(marks, "utf8").trim().split("\n").map((l) => l.split(" ") as [string, string]).sort((a, b) => Number(BigInt(a[1]) - BigInt(b[1])));
    for (const [kind] of events) most = Math.max(most, (now += kind === "start" ? 1 : -1));
    expect(most).toBeLessThanOrEqual(2);
  });

  it("a job that ends before its worker waits keeps its own outcome (not the re-attach path)", async () => {
    const ex = createLocalExecutor({ concurrency: 1, pollMs: 50 });
    const s = spec(["sh", "-c", "echo quick; exit 4"]);
    const job = await ex.submit(s);
    await new Promise((r) => setTimeout(r, 300));
    const o = await ex.wait(job, s);
    expect(o).toMatchObject({ state: "failed", exitCode: 4, reason: "Exited with code 4; see the job's log." });
    expect(o.startedAt).toBeInstanceOf(Date);
    expect(readFileSync(s.logPath, "utf8")).toBe("quick\n");
  });

  it("a job's environment: the worker's (sent to the helper once) with the job's own variables over it", async () => {
    process.env.ATRIUM_TEST_BASE_VAR = "from-worker";
    const ex = createLocalExecutor({ concurrency: 1, pollMs: 50 });
    const s = spec(["sh", "-c", 'echo "$ATRIUM_TEST_BASE_VAR $ATRIUM_TEST_OWN_VAR $ATRIUM_JOB_ID"'], { env: { ATRIUM_TEST_OWN_VAR: "own" } });
    expect(await ex.wait(await ex.submit(s), s)).toMatchObject({ state: "succeeded" });
    expect(readFileSync(s.logPath, "utf8")).toBe(`from-worker own ${s.jobId}\n`);
    const t = spec(["sh", "-c", 'echo "$ATRIUM_TEST_OWN_VAR"'], { env: { ATRIUM_TEST_OWN_VAR: "second" } });
    expect(await ex.wait(await ex.submit(t), t)).toMatchObject({ state: "succeeded" });
    expect(readFileSync(t.logPath, "utf8")).toBe("second\n");
    delete process.env.ATRIUM_TEST_BASE_VAR;
  });

  it("in process (spawnHelper: false): the same exit codes, log and missing-program reason", async () => {
    const ex = createLocalExecutor({ concurrency: 2, pollMs: 50, spawnHelper: false });
    const s = spec(["sh", "-c", "echo hi; exit 3"]);
    expect(await ex.wait(await ex.submit(s), s)).toMatchObject({ state: "failed", exitCode: 3 });
    expect(readFileSync(s.logPath, "utf8")).toBe("hi\n");
    const m = spec(["no-such-program-atrium"]);
    expect((await ex.wait(await ex.submit(m), m)).reason).toMatch(/not found on this host/);
  });

  it("a helper that is gone makes start() say so, so that the executor spawns in process", async () => {
    const h = new SpawnHelper(1);
    const s = spec(["true"]);
    const { mkdirSync } = await import("node:fs");
    mkdirSync(s.workDir, { recursive: true });
    const first = await h.start({ file: "/bin/sh", args: ["-c", "true"], cwd: dir, env: process.env, logPath: s.logPath });
    expect(first.pid).toBeGreaterThan(0);
    await first.exited;
    const child = (h as unknown as { child: { kill(): void; once(e: string, f: () => void): void } }).child;
    await new Promise<void>((r) => {
      child.once("exit", () => r());
      child.kill();
    });
    expect(h.usable).toBe(false);
    await expect(h.start({ file: "/bin/sh", args: ["-c", "true"], cwd: dir, env: process.env, logPath: s.logPath })).rejects.toMatchObject({ helperGone: true });
  });
});
