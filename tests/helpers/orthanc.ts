// A real Orthanc (Debian's `Orthanc`) for tests and benchmarks: its own ports, storage and config
// under a temporary directory, TCP_NODELAY=1 (see dicom-network.md), stopped with SIGTERM.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { freePort } from "../../lib/net";

export const ORTHANC_DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so";

export interface OrthancProcess {
  httpUrl: string;
  httpPort: number;
  dicomPort: number;
  aet: string;
  dir: string;
  child: ChildProcess;
  output(): string;
  /** GET/POST to Orthanc's REST API; throws with the body on a non-2xx answer. */
  rest<T = unknown>(pathname: string, init?: RequestInit): Promise<T>;
  stop(): Promise<void>;
}

export interface OrthancOptions {
  /** Merged over the base configuration (e.g. DicomWeb, LuaScripts, StableAge). */
  config?: Record<string, unknown>;
  /** Files written into the Orthanc directory before start (e.g. a Lua script), name → content. */
  files?: Record<string, string>;
  dicomWeb?: boolean;
  aet?: string;
}

export async function startOrthanc(opts: OrthancOptions = {}): Promise<OrthancProcess> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "atrium-orthanc-"));
  for (const [name, content] of Object.entries(opts.files ?? {})) writeFileSync(path.join(dir, name), content);
  const httpPort = await freePort();
  const dicomPort = await freePort();
  const aet = opts.aet ?? "ORTHANC";
  const config = {
    Name: "atrium-test",
    StorageDirectory: path.join(dir, "storage"),
    IndexDirectory: path.join(dir, "storage"),
    HttpPort: httpPort,
    DicomPort: dicomPort,
    DicomAet: aet,
    RemoteAccessAllowed: false,
    AuthenticationEnabled: false,
    DicomCheckCalledAet: false,
    HttpTimeout: 60,
    Plugins: opts.dicomWeb ? [ORTHANC_DICOMWEB_PLUGIN] : [],
    ...(opts.config ?? {}),
  };
  const configPath = path.join(dir, "orthanc.json");
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  const child = spawn("Orthanc", [configPath], { cwd: dir, env: { ...process.env, TCP_NODELAY: "1" }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const httpUrl = `http://127.0.0.1:${httpPort}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`Orthanc exited with ${child.exitCode}:\n${out}`);
    try {
      if ((await fetch(`${httpUrl}/system`)).ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`Orthanc did not start in 30 s:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    httpUrl,
    httpPort,
    dicomPort,
    aet,
    dir,
    child,
    output: () => out,
    async rest<T>(pathname: string, init?: RequestInit): Promise<T> {
      const r = await fetch(`${httpUrl}${pathname}`, init);
      const text = await r.text();
      if (!r.ok) throw new Error(`Orthanc ${init?.method ?? "GET"} ${pathname}: ${r.status} ${text.slice(0, 300)}`);
      return (text ? JSON.parse(text) : undefined) as T;
    },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        const t = setTimeout(() => child.kill("SIGKILL"), 15_000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
