// The pure parts of the SLURM executor, on output captured from slurm-wlm 22.05 (Debian).
import { describe, expect, it } from "vitest";
import {
  formatMemory,
  formatWallTime,
  isEndState,
  mapEndState,
  parseExitCode,
  parseMemoryKb,
  parseSacct,
  parseSbatchParsable,
  parseScontrolJob,
  parseSqueue,
  wrapperScript,
} from "../../lib/pipelines/executors/slurm-parse";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

// `scontrol -o show job 1` for `sbatch --wrap 'echo hi; exit 3'` (captured here).
const SCONTROL =
  "JobId=1 JobName=a1 UserId=root(0) GroupId=root(0) MCS_label=N/A Priority=4294901759 Nice=0 Account=(null) QOS=(null) JobState=FAILED Reason=NonZeroExitCode Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=3:0 RunTime=00:00:00 TimeLimit=UNLIMITED TimeMin=N/A SubmitTime=2026-12-05T04:51:51 EligibleTime=2026-12-05T04:51:51 AccrueTime=2026-12-05T04:51:51 StartTime=2026-12-05T04:51:52 EndTime=2026-12-05T04:51:52 Deadline=N/A SuspendTime=None SecsPreSuspend=0 LastSchedEval=2026-12-05T04:51:52 Scheduler=Main Partition=debug AllocNode:Sid=localhost:11831 ReqNodeList=(null) ExcNodeList=(null) NodeList=vm BatchHost=vm NumNodes=1 NumCPUs=1 NumTasks=1 CPUs/Task=1 ReqB:S:C:T=0:0:*:* TRES=cpu=1,mem=21694M,node=1,billing=1 Socks/Node=* NtasksPerN:B:S:C=0:0:*:* CoreSpec=* MinCPUsNode=1 MinMemoryNode=0 MinTmpDiskNode=0 Features=(null) DelayBoot=00:00:00 OverSubscribe=OK Contiguous=0 Licenses=(null) Network=(null) Command=(null) WorkDir=/tmp/sw StdErr=/tmp/sw/a.log StdIn=/dev/null StdOut=/tmp/sw/a.log Power= \n";
// `squeue -h --states=all -j 1,2,99 -o '%i|%T|%r|%B|%S|%e'` (captured here; 99 is unknown).
const SQUEUE = "1|FAILED|NonZeroExitCode|vm|2026-12-05T04:51:52|2026-12-05T04:51:52\n2|PENDING|Resources|n/a|N/A|N/A\n";
// `sacct -n -P -j 42 -o JobID,State,ExitCode,Start,End,NodeList,MaxRSS` on a cluster with accounting.
const SACCT = "42|COMPLETED|0:0|2026-12-05T04:51:52|2026-12-05T04:51:55|node7|\n42.batch|COMPLETED|0:0|2026-12-05T04:51:52|2026-12-05T04:51:55|node7|10240K\n42.extern|COMPLETED|0:0|2026-12-05T04:51:52|2026-12-05T04:51:55|node7|812K\n";

describe("SLURM output parsing", () => {
  it("sbatch --parsable", () => {
    expect(parseSbatchParsable("1\n")).toBe("1");
    expect(parseSbatchParsable("1234;cluster\n")).toBe("1234");
    expect(() => parseSbatchParsable("sbatch: error: Batch job submission failed\n")).toThrow(/no job id/);
  });

  it("squeue rows, with n/a and N/A as nothing", () => {
    const rows = parseSqueue(SQUEUE);
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({ id: "1", state: "FAILED", reason: "NonZeroExitCode", host: "vm" });
    expect(rows[0].start?.getTime()).toBe(new Date("2026-12-05T04:51:52").getTime());
    expect(rows[1]).toMatchObject({ id: "2", state: "PENDING", host: null, start: null, end: null });
  });

  it("scontrol show job", () => {
    const j = parseScontrolJob(SCONTROL);
    expect(j.JobState).toBe("FAILED");
    expect(j.ExitCode).toBe("3:0");
    expect(j.BatchHost).toBe("vm");
    expect(j.StartTime).toBe("2026-12-05T04:51:52");
    expect(j["CPUs/Task"]).toBe("1");
  });

  it("sacct: the job's row with the steps' largest MaxRSS", () => {
    const r = parseSacct(SACCT, "42");
    expect(r).toMatchObject({ state: "COMPLETED", exitCode: "0:0", host: "node7", maxRss: "10240K" });
    expect(parseSacct(SACCT, "43")).toBeNull();
  });

  it("exit codes, memory, wall time", () => {
    expect(parseExitCode("3:0")).toBe(3);
    expect(parseExitCode("0:9")).toBe(137);
    expect(parseExitCode("")).toBeNull();
    expect(parseMemoryKb("10240K")).toBe(10240);
    expect(parseMemoryKb("1.5G")).toBe(1572864);
    expect(parseMemoryKb("2048")).toBe(2);
    expect(parseMemoryKb("")).toBeNull();
    expect(formatWallTime(1)).toBe("00:01:00");
    expect(formatWallTime(3601)).toBe("01:01:00");
    expect(formatWallTime(90000)).toBe("1-01:00:00");
    expect(formatMemory(64)).toBe("64M");
    expect(formatMemory(0.5)).toBe("1M");
  });

  it("state mapping", () => {
    expect(isEndState("RUNNING")).toBe(false);
    expect(isEndState("COMPLETING")).toBe(false);
    expect(isEndState("PENDING")).toBe(false);
    expect(isEndState("CANCELLED by 0")).toBe(true);
    expect(mapEndState("COMPLETED", 0, "1")).toEqual({ state: "succeeded", reason: null });
    expect(mapEndState("FAILED", 3, "1").state).toBe("failed");
    expect(mapEndState("TIMEOUT", 0, "1").state).toBe("timed_out");
    expect(mapEndState("CANCELLED by 0", 0, "1").state).toBe("cancelled");
    expect(mapEndState("OUT_OF_MEMORY", 0, "1").state).toBe("out_of_memory");
    expect(mapEndState("NODE_FAIL", null, "1")).toMatchObject({ state: "failed", reason: expect.stringContaining("NODE_FAIL") });
  });

  it("the wrapper script runs argv with its quoting and env intact", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "atrium-wrap-"));
    const script = path.join(dir, "w.sh");
    writeFileSync(script, wrapperScript(["sh", "-c", 'printf "%s|%s|%s" "$1" "$2" "$V"', "x", "it's $HOME", "a b;`c`"], dir, { V: "v'1 $x" }));
    const r = spawnSync("sh", [script], { encoding: "utf8" });
    expect(r.stdout).toBe("it's $HOME|a b;`c`|v'1 $x");
    expect(() => wrapperScript(["true"], dir, { "BAD-NAME": "1" })).toThrow(/invalid environment variable/);
  });
});
