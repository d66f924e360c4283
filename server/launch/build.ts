// The portal's production build (.next). `atrium start` builds once if no build exists or the
// sources changed since the last one; `npm run build` does it explicitly.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { precompressStaticAssets } from "./static-assets";

export const ROOT = path.resolve(import.meta.dirname, "..", "..");
const SOURCE_DIRS = ["app", "components", "server", "lib", "public"];
const SOURCE_FILES = ["next.config.ts", "package-lock.json", "tsconfig.json"];

function newestMtime(p: string): number {
  if (!existsSync(p)) return 0;
  const st = statSync(p);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const entry of readdirSync(p)) {
    if (entry === "generated" || entry === "node_modules") continue;
    newest = Math.max(newest, newestMtime(path.join(p, entry)));
  }
  return newest;
}

export function buildIsCurrent(root = ROOT): boolean {
  const buildId = path.join(root, ".next", "BUILD_ID");
  if (!existsSync(buildId)) return false;
  const built = statSync(buildId).mtimeMs;
  const sources = Math.max(
    ...SOURCE_DIRS.map((d) => newestMtime(path.join(root, d))),
    ...SOURCE_FILES.map((f) => newestMtime(path.join(root, f))),
  );
  return sources <= built;
}

export function buildPortal(root = ROOT): void {
  const nextBin = path.join(root, "node_modules", "next", "dist", "bin", "next");
  const r = spawnSync(process.execPath, [nextBin, "build", "--webpack"], {
    cwd: root,
    stdio: "inherit",
    env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1", NODE_ENV: "production" },
  });
  if (r.status !== 0) throw new Error(`The portal build failed (exit ${r.status}); see the output above.`);
  precompressStaticAssets(root);
}
