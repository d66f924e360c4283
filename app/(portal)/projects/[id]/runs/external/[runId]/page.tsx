import type { Metadata } from "next";
import { ReportedRunView } from "@/components/runs/ReportedRunView";

export const metadata: Metadata = { title: "Reported run" };

export default async function ReportedRunPage({ params }: { params: Promise<{ id: string; runId: string }> }) {
  const { id, runId } = await params;
  return <ReportedRunView projectId={id} runId={runId} />;
}
