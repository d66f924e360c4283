// Starting job processes from a small helper process instead of the worker itself. Node's spawn
// forks the calling process synchronously: in a worker that has loaded Prisma, BullMQ and the rest
// (hundreds of MB mapped) each fork costs several milliseconds of the worker's event loop, which
// then cannot run the database and queue work of the other jobs meanwhile. The helper is a bare
// Node process (no modules, a few tens of MB) that spawns on request over a pipe (JSON lines) and
// reports each pid and exit; forks there are cheap and run beside the worker's loop.
//
// Jobs keep what they had: their own process group (detached), stdout and stderr into the log
// file, the pid to watch /proc with, kill and re-attach to. Their environment is the worker's as it
// was when the helper started (sent once: copying process.env cost ~50 µs per job, and the JSON of
// it more) plus the job's own variables, which each request carries. If the helper cannot be started or dies,
// the caller spawns in process (the helper's jobs run on: they are detached and write their exit
// code next to their log, so a later wait() by pid learns how they ended).
import { spawn, type ChildProcess } from "node:child_process";

export interface SpawnRequest {
  file: string;
  args: string[];
  cwd: string;
  /** Variables set over the helper's base environment (the worker's when the helper started). */
  env: Record<string, string | undefined>;
  logPath: string;
}

export interface Spawned {
  pid: number;
  /** `gone`: the helper died while the job ran (the job itself goes on; follow it by pid). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; gone?: boolean }>;
}

// Runs as `node -e SOURCE <concurrency>`: CommonJS, Node's own modules only. It starts at most
// <concurrency> jobs at once and starts the next waiting one as soon as one exits, without waiting
// for the worker's (busy) event loop.
const HELPER_SOURCE = `
const { spawn } = require("node:child_process");
const { openSync, closeSync } = require("node:fs");
const limit = Math.max(1, Number(process.argv[1]) || 1);
const send = (o) => process.stdout.write(JSON.stringify(o) + "\\n");
const waiting = [];
let running = 0;
let base = {};
const next = () => {
  while (running < limit && waiting.length) {
    const m = waiting.shift();
    let fd;
    try {
      fd = openSync(m.logPath, "w");
      const child = spawn(m.file, m.args, { cwd: m.cwd, env: Object.assign({}, base, m.env), stdio: ["ignore", fd, fd], detached: true });
      closeSync(fd);
      fd = undefined;
      if (!child.pid) {
        child.on("error", (e) => send({ id: m.id, error: e.message }));
        continue;
      }
      running++;
      send({ id: m.id, pid: child.pid });
      child.on("exit", (code, signal) => {
        running--;
        next();
        send({ id: m.id, exit: code, signal });
      });
    } catch (e) {
      if (fd !== undefined) try { closeSync(fd); } catch {}
      send({ id: m.id, error: String(e && e.message || e) });
    }
  }
};
let buf = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => {
  buf += chunk;
  let i;
  while ((i = buf.indexOf("\\n")) >= 0) {
    const line = buf.slice(0, i);
    buf = buf.slice(i + 1);
    try {
      const m = JSON.parse(line);
      if (m.base) base = m.base;
      else waiting.push(m);
    } catch {}
  }
  next();
});
process.stdin.on("end", () => process.exit(0));
process.stdout.on("error", () => process.exit(0));
`;

type Pending = {
  started: (r: { pid: number } | { error: string }) => void;
  exited?: (r: { code: number | null; signal: NodeJS.Signals | null; gone?: boolean }) => void;
};

export class SpawnHelper {
  private child: ChildProcess | null = null;
  private pending = new Map<number, Pending>();
  private seq = 0;
  private broken = false;

  /** `concurrency`: jobs the helper runs at once (it queues the rest). */
  constructor(private readonly concurrency: number) {}

  /** False once the helper could not be started or died: spawn in process then. */
  get usable() {
    return !this.broken;
  }

  /** The helper's pipe keeps this process alive exactly while a start or an exit is awaited. */
  private hold() {
    const out = this.child?.stdout as unknown as { ref?: () => void; unref?: () => void } | undefined;
    if (this.pending.size) out?.ref?.();
    else out?.unref?.();
  }

  private ensure(): ChildProcess {
    if (this.child) return this.child;
    const child: ChildProcess = spawn(process.execPath, ["-e", HELPER_SOURCE, String(this.concurrency)], { stdio: ["pipe", "pipe", "inherit"], env: { PATH: process.env.PATH ?? "" } as unknown as NodeJS.ProcessEnv });
    // Keeps the worker alive only while something waits on it (see hold()).
    child.unref();
    for (const s of [child.stdin, child.stdout] as unknown as ({ unref?: () => void } | null)[]) s?.unref?.();
    let buf = "";
    child.stdout!.setEncoding("utf8");
    child.stdout!.on("data", (chunk: string) => {
      buf += chunk;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        let m: { id: number; pid?: number; error?: string; exit?: number | null; signal?: NodeJS.Signals | null };
        try {
          m = JSON.parse(line);
        } catch {
          continue;
        }
        const p = this.pending.get(m.id);
        if (!p) continue;
        queueMicrotask(() => this.hold());
        if (m.error !== undefined) {
          this.pending.delete(m.id);
          p.started({ error: m.error });
        } else if (m.pid !== undefined) p.started({ pid: m.pid });
        else if ("exit" in m) {
          this.pending.delete(m.id);
          p.exited?.({ code: m.exit ?? null, signal: m.signal ?? null });
        }
      }
    });
    const fail = () => {
      this.broken = true;
      this.child = null;
      // Requests not yet started are told to spawn in process; started jobs are followed by pid.
      for (const [id, p] of this.pending) {
        this.pending.delete(id);
        p.started({ error: "helper gone" });
        p.exited?.({ code: null, signal: null, gone: true });
      }
    };
    child.on("error", fail);
    child.on("exit", fail);
    child.stdin!.on("error", () => undefined);
    // The base environment of every job it starts (its own is only PATH, so that NODE_OPTIONS and the like do not load into it).
    child.stdin!.write(`${JSON.stringify({ base: process.env })}\n`);
    this.child = child;
    return child;
  }

  /**
   * Spawns through the helper, when one of its slots is free. Resolves with the pid and a promise
   * of the exit; rejects when the helper is gone (`helperGone`) or the spawn itself failed.
   */
  start(req: SpawnRequest): Promise<Spawned> {
    let child: ChildProcess;
    try {
      if (this.broken) throw new Error("helper gone");
      child = this.ensure();
    } catch {
      this.broken = true;
      return Promise.reject(Object.assign(new Error("helper gone"), { helperGone: true }));
    }
    const id = ++this.seq;
    return new Promise<Spawned>((resolve, reject) => {
      let exitedResolve!: Pending["exited"];
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; gone?: boolean }>((r) => (exitedResolve = r));
      this.pending.set(id, {
        started: (r) => {
          if ("pid" in r) resolve({ pid: r.pid, exited });
          else reject(Object.assign(new Error(r.error), { helperGone: r.error === "helper gone" }));
        },
        exited: exitedResolve,
      });
      this.hold();
      child.stdin!.write(`${JSON.stringify({ id, ...req })}\n`);
    });
  }

  close() {
    this.child?.stdin?.end();
    this.child = null;
  }
}
