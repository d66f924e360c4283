"use client";
// A project's Pipelines tab: its tools and pipelines (run them), then every run, Atrium's own and
// those reported through /pim.
import { Stack } from "@mantine/core";
import { RunsPanel } from "@/components/runs/RunsPanel";
import { PipelinesPanel } from "./PipelinesPanel";

export function PipelinesTab({ projectId, canRun, isOwner }: { projectId: string; canRun: boolean; isOwner: boolean }) {
  return (
    <Stack gap="xl">
      <PipelinesPanel projectId={projectId} canRun={canRun} isOwner={isOwner} />
      <RunsPanel projectId={projectId} />
    </Stack>
  );
}
