// Where the portal's build put the viewer's frame fetcher worker (next.config.ts writes it): the
// viewer page's HTML starts that worker itself (components/viewer/series-metadata
// earlyViewerScript). Null without a build that recorded it (then the page's code starts it).
import { readFileSync, statSync } from "node:fs";
import path from "node:path";
import { VIEWER_ASSETS_FILE } from "@/components/viewer/names";

let cached: { mtimeMs: number; frameFetcher: string | null } | null = null;

export function frameFetcherWorkerUrl(): string | null {
  // `atrium start` says where the portal is; Next.js runs from there otherwise.
  const file = path.join(process.env.ATRIUM_PORTAL_DIR ?? process.cwd(), ".next", VIEWER_ASSETS_FILE);
  try {
    const { mtimeMs } = statSync(file);
    if (cached?.mtimeMs !== mtimeMs) {
      const url = (JSON.parse(readFileSync(file, "utf8")) as { frameFetcher?: unknown }).frameFetcher;
      // Only a path of the build's own static files is put into a page.
      cached = { mtimeMs, frameFetcher: typeof url === "string" && /^\/_next\/static\/[\w./-]+\.js$/.test(url) && !url.includes("..") ? url : null };
    }
    return cached.frameFetcher;
  } catch {
    return null;
  }
}
