// Helpers for the DICOM network tests: real DCMTK peers, free ports, a test SCP that records what it stores.
import { spawn } from "node:child_process";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { readPart10Info } from "@/lib/dicom-net/part10";
import { startScp, type AssociationEvent, type ScpHandle, type StartScpOptions, type StoredInstance } from "@/lib/dicom-net/scp";

export { SAMPLES_DIR as SAMPLES } from "@/lib/samples";
import { SAMPLES_DIR as SAMPLES } from "@/lib/samples";
/** DCMTK as packaged here does not disable Nagle's algorithm without this (dicom-network.md). */
export const DCMTK_ENV = { ...process.env, TCP_NODELAY: "1" };

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env ?? DCMTK_ENV, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 45_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), `atrium-${prefix}-`));
}

export async function sampleFiles(): Promise<string[]> {
  return (await readdir(SAMPLES)).sort().map((f) => path.join(SAMPLES, f));
}

/**
 * A storescu association config (-xf FILE Default) with one presentation context per (SOP class,
 * transfer syntax) found in the files, each proposing only that syntax, so storescu sends every file
 * in its own syntax, unchanged (dicom-network.md: without it storescu decompresses or refuses).
 */
export async function storescuConfig(files: string[], dir: string): Promise<string> {
  const pairs = new Set<string>();
  for (const f of files) {
    try {
      const info = await readPart10Info(f);
      const sop = info.datasetSopClassUid ?? info.sopClassUid;
      if (sop) pairs.add(`${sop}\\${info.transferSyntaxUid}`);
    } catch {
      // not DICOM: storescu will refuse it itself
    }
  }
  const syntaxes = [...new Set([...pairs].map((p) => p.split("\\")[1]!))];
  const lines = ["[[TransferSyntaxes]]"];
  syntaxes.forEach((ts, i) => lines.push(`[TS${i}]`, `TransferSyntax1 = ${ts}`));
  lines.push("[[PresentationContexts]]", "[Contexts]");
  [...pairs].forEach((p, i) => {
    const [sop, ts] = p.split("\\");
    lines.push(`PresentationContext${i + 1} = ${sop}\\TS${syntaxes.indexOf(ts!)}`);
  });
  lines.push("[[Profiles]]", "[Default]", "PresentationContexts = Contexts");
  const file = path.join(dir, "storescu.cfg");
  await writeFile(file, lines.join("\n") + "\n");
  return file;
}

export interface TestScp {
  handle: ScpHandle;
  port: number;
  stagingDir: string;
  stored: StoredInstance[];
  events: AssociationEvent[];
  close(): Promise<void>;
}

/** `hook` replaces the default success answer; `stored` records every instance the hook kept. */
export async function startTestScp(
  overrides: Partial<StartScpOptions> & { hook?: (s: StoredInstance) => Promise<number> } = {},
): Promise<TestScp> {
  const { hook, ...rest } = overrides;
  const stagingDir = await tempDir("staging");
  const stored: StoredInstance[] = [];
  const events: AssociationEvent[] = [];
  const handle = await startScp({
    port: 0,
    host: "127.0.0.1",
    stagingDir,
    acceptAssociation: async ({ calledAe, callingAe }) => {
      if (calledAe !== "ATRIUM") return { accept: false, reason: "called-ae-not-recognized" };
      if (callingAe === "STRANGER") return { accept: false, reason: "calling-ae-not-recognized" };
      return { accept: true };
    },
    onStored: async (s) => {
      const status = hook ? await hook(s) : 0x0000;
      if (status === 0x0000) stored.push(s);
      return status;
    },
    ...rest,
    onAssociation: (e) => {
      events.push(e);
      rest.onAssociation?.(e);
    },
  });
  return {
    handle,
    port: handle.port,
    stagingDir,
    stored,
    events,
    async close() {
      await handle.close({ timeoutMs: 2000 });
      await rm(stagingDir, { recursive: true, force: true });
    },
  };
}

/** Files storescu -v reports as stored with Success, in sending order. */
export function storescuSuccesses(output: string): string[] {
  const ok: string[] = [];
  let current = "";
  for (const line of output.split("\n")) {
    const m = /^I: Sending file: (.*)$/.exec(line);
    if (m) current = m[1]!;
    if (/^I: Received Store Response \(Success\)/.test(line)) ok.push(current);
  }
  return ok;
}

