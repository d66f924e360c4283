import type { Metadata } from "next";
import { RunView } from "@/components/pipelines/RunView";

export async function generateMetadata({ params }: { params: Promise<{ id: string; runId: string }> }): Promise<Metadata> {
  return { title: `Run ${(await params).runId.slice(0, 10)}` };
}

export default async function RunPage({ params }: { params: Promise<{ id: string; runId: string }> }) {
  const { id, runId } = await params;
  return <RunView projectId={id} runId={runId} />;
}
