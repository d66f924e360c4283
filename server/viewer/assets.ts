// Where the portal's build put the viewer's frame fetcher worker and the viewer's own code
// (next.config.ts writes it): the viewer page's HTML starts that worker and loads that code itself
// (components/viewer/series-metadata earlyViewerScript). Nothing without a build that recorded it
// (then the page's code does both, later).
import { readFileSync, statSync } from "node:fs";
import path from "node:path";
import { VIEWER_ASSETS_FILE } from "@/components/viewer/names";

export interface ViewerAssets {
  frameFetcher: string | null;
  viewerScripts: string[];
}

const NONE: ViewerAssets = { frameFetcher: null, viewerScripts: [] };
let cached: { mtimeMs: number; assets: ViewerAssets } | null = null;

/** Only a path of the build's own static scripts is put into a page. */
const ownScript = (url: unknown): url is string => typeof url === "string" && /^\/_next\/static\/[\w./-]+\.js$/.test(url) && !url.includes("..");

export function viewerAssets(): ViewerAssets {
  // `atrium start` says where the portal is; Next.js runs from there otherwise.
  const file = path.join(process.env.ATRIUM_PORTAL_DIR ?? process.cwd(), ".next", VIEWER_ASSETS_FILE);
  try {
    const { mtimeMs } = statSync(file);
    if (cached?.mtimeMs !== mtimeMs) {
      const recorded = JSON.parse(readFileSync(file, "utf8")) as { frameFetcher?: unknown; viewerScripts?: unknown };
      const scripts = Array.isArray(recorded.viewerScripts) ? recorded.viewerScripts : [];
      cached = { mtimeMs, assets: { frameFetcher: ownScript(recorded.frameFetcher) ? recorded.frameFetcher : null, viewerScripts: scripts.every(ownScript) ? scripts : [] } };
    }
    return cached.assets;
  } catch {
    return NONE;
  }
}
