import { describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createLocalExecutor } from "@/lib/pipelines/executors/local";
import { getExecutor } from "@/lib/pipelines/executors";
import type { JobSpec } from "@/lib/pipelines/executors/types";

const dir = mkdtempSync(path.join(tmpdir(), "atrium-local-exec-"));
let n = 0;
function spec(command: string[], over: Partial<JobSpec> = {}): JobSpec {
  const id = `job${++n}`;
  return { jobId: id, command, workDir: path.join(dir, id), logPath: path.join(dir, id, "log.txt"), cores: 1, memoryMb: 512, wallTimeSeconds: 30, ...over };
}

describe("local executor", () => {
  const ex = createLocalExecutor({ concurrency: 2, pollMs: 50 });

  it("runs a job, logs stdout and stderr, reports the exit code", async () => {
    const s = spec(["sh", "-c", "echo out; echo err >&2; exit 0"]);
    const job = await ex.submit(s);
    const o = await ex.wait(job, s);
    expect(o).toMatchObject({ state: "succeeded", exitCode: 0, reason: null });
    expect(readFileSync(s.logPath, "utf8")).toBe("out\nerr\n");
  });

  it("a failing tool: failed with its exit code; a missing program says so", async () => {
    const s = spec(["sh", "-c", "exit 3"]);
    expect(await ex.wait(await ex.submit(s), s)).toMatchObject({ state: "failed", exitCode: 3 });
    const m = spec(["no-such-program-atrium"]);
    const o = await ex.wait(await ex.submit(m), m);
    expect(o.state).toBe("failed");
    expect(o.reason).toMatch(/not found on this host/);
  });

  it("wall-time limit: the whole group is killed, timed_out", async () => {
    const s = spec(["sh", "-c", "sleep 30 & sleep 30; wait"], { wallTimeSeconds: 1 });
    const t0 = Date.now();
    const o = await ex.wait(await ex.submit(s), s);
    expect(o.state).toBe("timed_out");
    expect(o.reason).toMatch(/wall-time limit of 1 s/);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it("cancel kills the process and its children", async () => {
    const s = spec(["sh", "-c", "sleep 30 & echo $! > child.pid; wait"]);
    const job = await ex.submit(s);
    await new Promise((r) => setTimeout(r, 300));
    const childPid = Number(readFileSync(path.join(s.workDir, "child.pid"), "utf8"));
    await ex.cancel(job);
    const o = await ex.wait(job, s);
    expect(o.state).toBe("cancelled");
    await new Promise((r) => setTimeout(r, 100));
    // Gone, or a zombie waiting for a reaper (killed either way).
    let state = "gone";
    try {
      state = readFileSync(`/proc/${childPid}/stat`, "utf8").split(") ")[1]!.split(" ")[0]!;
    } catch {
      /* gone */
    }
    expect(["gone", "Z"]).toContain(state);
  });

  it("memory limit: out_of_memory; peak memory is reported", async () => {
    const s = spec([process.execPath, "-e", "const a=[]; for(;;){ a.push(Buffer.alloc(8e6, 1)); }"], { memoryMb: 100 });
    const o = await ex.wait(await ex.submit(s), s);
    expect(o.state).toBe("out_of_memory");
    expect(o.peakMemoryKb).toBeGreaterThan(50_000);
  });

  it("a 10 MB log is written whole", async () => {
    const s = spec(["sh", "-c", "head -c 10485760 /dev/zero | tr '\\0' x"]);
    expect((await ex.wait(await ex.submit(s), s)).state).toBe("succeeded");
    expect(statSync(s.logPath).size).toBe(10 * 1024 * 1024);
  });

  it("another process re-attaches to a running job by its pid and learns its exit code", async () => {
    const s = spec(["sh", "-c", "sleep 0.5; exit 4"]);
    const job = await ex.submit(s);
    const other = createLocalExecutor({ pollMs: 50 });
    expect(await other.wait(job, s)).toMatchObject({ state: "failed", exitCode: 4 });
  });

  it("unknown executors are refused by name", () => {
    expect(getExecutor("local").name).toBe("local");
    expect(() => getExecutor("pbs")).toThrow(/Unknown executor "pbs": use one of local/);
  });
});
