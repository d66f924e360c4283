import type { Metadata } from "next";
import { headers } from "next/headers";
import { BrowseViewerPage } from "@/components/viewer/BrowseViewerPage";
import { earlyViewerScript } from "@/components/viewer/series-metadata";
import { NONCE_HEADER } from "@/lib/http/security-headers";
import { createCallerFactory } from "@/server/trpc/init";
import { createContext } from "@/server/trpc/context";
import { appRouter } from "@/server/routers";
import { viewerAssets } from "@/server/viewer/assets";

export const metadata: Metadata = { title: "Viewer" };

export default async function Page({ params, searchParams }: { params: Promise<{ id: string; experimentId: string }>; searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const { id, experimentId } = await params;
  const sp = await searchParams;
  const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);
  // The experiment's scans are read while the page renders (through the same procedure and access
  // check as the client's query), so the browser knows the series when it hydrates and starts their
  // metadata at once. A refusal is left to the client's query, which says what is wrong.
  const caller = createCallerFactory(appRouter)(await createContext(await headers()));
  const initialScans = await caller.browse.scans({ projectId: id, experimentId, page: 1, pageSize: 200 }).catch(() => null);
  // The shown series' metadata, and its frames when it is shown as a stack (not the MPR layout),
  // are asked for by the HTML itself (before the page's code has loaded).
  const series = one(sp.series) ?? null;
  const shown = initialScans?.items.find((s) => s.seriesInstanceUid === series);
  const nonce = (await headers()).get(NONCE_HEADER) ?? undefined;
  return (
    <>
      {shown && initialScans && (
        <script nonce={nonce} dangerouslySetInnerHTML={{ __html: earlyViewerScript([{ ref: { projectId: id, studyInstanceUid: initialScans.experiment.studyInstanceUid, seriesInstanceUid: shown.seriesInstanceUid }, frames: one(sp.layout) !== "mpr" }], viewerAssets()) }} />
      )}
      <BrowseViewerPage projectId={id} experimentId={experimentId} series={series} layout={one(sp.layout) ?? null} initialScans={initialScans} />
    </>
  );
}
