// A vitest reporter that prints, after the run, the ten test files that took longest (wall time
// of the file: environment, imports, hooks and tests), so a file that grows slow is seen in every
// CI log. Wired in vitest.config.ts beside the default reporter.
import path from "node:path";
import type { Reporter, TestModule } from "vitest/node";

export interface FileTime {
  file: string;
  ms: number;
  tests: number;
  state: string;
}

/** The `n` slowest files, slowest first, as the lines printed at the end of a run. */
export function slowestFiles(rows: FileTime[], n = 10, totalMs?: number): string[] {
  const top = [...rows].sort((a, b) => b.ms - a.ms || a.file.localeCompare(b.file)).slice(0, n);
  if (top.length === 0) return [];
  const width = Math.max(...top.map((r) => r.file.length));
  const sum = rows.reduce((s, r) => s + r.ms, 0);
  return [
    `Slowest ${top.length} test files of ${rows.length} (file wall time; ${(sum / 1000).toFixed(1)} s summed over files${totalMs ? `, ${(totalMs / 1000).toFixed(1)} s for the run` : ""}):`,
    ...top.map((r) => `  ${(r.ms / 1000).toFixed(1).padStart(7)} s  ${r.file.padEnd(width)}  ${String(r.tests).padStart(4)} tests${r.state === "passed" ? "" : `  (${r.state})`}`),
  ];
}

function fileTime(m: TestModule, root: string): FileTime {
  const d = m.diagnostic();
  return {
    file: path.relative(root, m.moduleId),
    ms: d.environmentSetupDuration + d.prepareDuration + d.collectDuration + d.setupDuration + d.duration,
    tests: [...m.children.allTests()].length,
    state: m.state(),
  };
}

export default class SlowestFilesReporter implements Reporter {
  private root = process.cwd();
  private t0 = performance.now();

  onInit(vitest: { config: { root: string } }) {
    this.root = vitest.config.root;
    this.t0 = performance.now();
  }

  onTestRunEnd(modules: ReadonlyArray<TestModule>) {
    const lines = slowestFiles(modules.map((m) => fileTime(m, this.root)), 10, performance.now() - this.t0);
    if (lines.length > 1) process.stdout.write(`\n${lines.join("\n")}\n`);
  }
}
