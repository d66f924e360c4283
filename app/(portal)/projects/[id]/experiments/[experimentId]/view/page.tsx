import type { Metadata } from "next";
import { BrowseViewerPage } from "@/components/viewer/BrowseViewerPage";

export const metadata: Metadata = { title: "Viewer" };

export default async function Page({ params, searchParams }: { params: Promise<{ id: string; experimentId: string }>; searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const { id, experimentId } = await params;
  const sp = await searchParams;
  const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);
  return <BrowseViewerPage projectId={id} experimentId={experimentId} series={one(sp.series) ?? null} layout={one(sp.layout) ?? null} />;
}
