import type { Metadata } from "next";
import { ExperimentWorkflowPage } from "@/components/governor/ExperimentWorkflowPage";

export const metadata: Metadata = { title: "Experiment workflow" };

export default async function Page({ params }: { params: Promise<{ id: string; experimentId: string }> }) {
  const { id, experimentId } = await params;
  return <ExperimentWorkflowPage projectId={id} experimentId={experimentId} />;
}
