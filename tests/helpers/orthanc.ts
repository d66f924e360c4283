// A real Orthanc (Debian's `Orthanc` binary) for tests and benchmarks: private ports, storage and config,
// optional Lua scripts, the DICOMweb plugin and HTTP users.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { freePort } from "../../lib/net";

export const ORTHANC_BIN = process.env.ATRIUM_ORTHANC ?? "Orthanc";
export const ORTHANC_DICOMWEB_PLUGIN = process.env.ATRIUM_ORTHANC_DICOMWEB ?? "/usr/share/orthanc/plugins/libOrthancDicomWeb.so";

export interface OrthancOptions {
  /** Lua script sources, written to files and listed in LuaScripts. */
  lua?: string[];
  dicomweb?: boolean;
  /** HTTP basic users (AuthenticationEnabled when given). */
  users?: Record<string, string>;
  stableAgeSeconds?: number;
  httpPort?: number;
  /** Merged over the configuration above (anything else Orthanc reads). */
  config?: Record<string, unknown>;
}

export interface OrthancProcess {
  url: string;
  httpPort: number;
  dicomPort: number;
  aet: string;
  dir: string;
  child: ChildProcess;
  /** Orthanc's own log (stderr), including what Lua print()s. */
  log(): string;
  /** GET/POST against the REST API with the first user's credentials. */
  rest(pathname: string, init?: RequestInit): Promise<Response>;
  stop(): Promise<void>;
}

export async function startOrthanc(opts: OrthancOptions = {}): Promise<OrthancProcess> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "atrium-orthanc-"));
  const httpPort = opts.httpPort ?? (await freePort());
  const dicomPort = await freePort();
  const luaFiles = (opts.lua ?? []).map((src, i) => {
    const f = path.join(dir, `script-${i}.lua`);
    writeFileSync(f, src);
    return f;
  });
  const config = {
    Name: "atrium-test",
    StorageDirectory: path.join(dir, "storage"),
    IndexDirectory: path.join(dir, "storage"),
    HttpPort: httpPort,
    DicomPort: dicomPort,
    DicomAet: "ORTHANC",
    RemoteAccessAllowed: false,
    AuthenticationEnabled: Boolean(opts.users),
    RegisteredUsers: opts.users ?? {},
    StableAge: opts.stableAgeSeconds ?? 1,
    HttpTimeout: 20,
    LuaScripts: luaFiles,
    Plugins: opts.dicomweb ? [ORTHANC_DICOMWEB_PLUGIN] : [],
    DicomWeb: { Enable: Boolean(opts.dicomweb), Root: "/dicom-web/" },
    ...(opts.config ?? {}),
  };
  const cfg = path.join(dir, "orthanc.json");
  writeFileSync(cfg, JSON.stringify(config, null, 2));
  const child = spawn(ORTHANC_BIN, [cfg], { env: { ...process.env, TCP_NODELAY: "1" }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const url = `http://127.0.0.1:${httpPort}`;
  const firstUser = Object.entries(opts.users ?? {})[0];
  const auth: Record<string, string> = firstUser ? { authorization: `Basic ${Buffer.from(`${firstUser[0]}:${firstUser[1]}`).toString("base64")}` } : {};
  const rest = (p: string, init: RequestInit = {}) => fetch(`${url}${p}`, { ...init, headers: { ...auth, ...(init.headers as Record<string, string> | undefined) } });
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`Orthanc exited with ${child.exitCode}:\n${out}`);
    try {
      if ((await rest("/system")).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`Orthanc did not start in time:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    httpPort,
    dicomPort,
    aet: "ORTHANC",
    dir,
    child,
    log: () => out,
    rest,
    async stop() {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        const t = setTimeout(() => child.kill("SIGKILL"), 10_000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
