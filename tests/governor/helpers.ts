// Test helpers for the governor: a scheduler that collects governor jobs and drains the due ones
// in order (delayed ones are kept as timers), and registered programs written to a temp dir.
import fs from "node:fs";
import path from "node:path";
import type { PrismaClient } from "@/server/db/generated/client";
import type { CallbackServices } from "@/lib/governor";
import { evaluateExperiment, runExecution, type GovernorScheduler } from "@/server/governor/engine";

export type TestScheduler = GovernorScheduler & { drain(): Promise<void>; timers: { kind: "evaluate" | "run"; id: string; delayMs: number }[] };

export function testScheduler(prisma: () => PrismaClient, services: () => CallbackServices): TestScheduler {
  const jobs: { kind: "evaluate" | "run"; id: string; delayMs: number; cause?: string }[] = [];
  const timers: typeof jobs = [];
  const s: TestScheduler = {
    timers,
    async evaluate(id, delayMs = 0, cause) {
      (delayMs > 0 ? timers : jobs).push({ kind: "evaluate", id, delayMs, cause });
    },
    async run(id, delayMs = 0) {
      (delayMs > 0 ? timers : jobs).push({ kind: "run", id, delayMs });
    },
    async drain() {
      for (let i = 0; i < 200 && jobs.length; i++) {
        const j = jobs.shift()!;
        if (j.kind === "run") await runExecution(prisma(), j.id, services(), s);
        else await evaluateExperiment(prisma(), j.id, { scheduler: s, cause: j.cause });
      }
    },
  };
  return s;
}

/** A program a site admin registered (a shell script). */
export function writeProgram(dir: string, name: string, body: string): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return p;
}
