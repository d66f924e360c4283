"use client";
// Owners register tools and pipelines from the portal (issue #12): the definition's text (YAML or
// JSON, lib/pipelines/schema.ts), registered as a new version; what is wrong comes back at its line
// (and node and link), and nothing is registered then. Editing a registered pipeline starts from its
// text.
import { useState } from "react";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Alert, Button, Group, List, Modal, SegmentedControl, Stack, Text, Textarea } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { IconAlertTriangle } from "@tabler/icons-react";
import { useTRPC } from "@/components/trpc";
import { ErrorAlert } from "@/components/ui/ErrorAlert";

export const TOOL_EXAMPLE = `# A tool: its command line from typed inputs, its outputs and what it needs.
kind: tool
id: word-count
version: "1.0"
description: Counts the words of a text file.
command: [wc, -w, { input: text }]
inputs:
  - { id: text, type: file }
outputs:
  - { id: words, type: integer, find: { stdout: words } }
requires: { binaries: [wc] }
`;

export const PIPELINE_EXAMPLE = `# A pipeline: sources from the experiment, tool nodes, sinks back to the archive.
kind: pipeline
id: my-pipeline
version: 1
sources:
  series: { from: scans, modality: [CT, MR] }
nodes:
  convert: { tool: dcm2niix, in: { dicom: series } }
  stats: { tool: nifti-stats, in: { image: convert.nifti } }
sinks:
  mean: { from: stats.mean, value: mean }
`;

export function DefinitionEditor({ projectId, initial, onClose }: { projectId: string; initial: { kind: "tool" | "pipeline"; text: string } | null; onClose: () => void }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const [kind, setKind] = useState<"tool" | "pipeline">(initial?.kind ?? "pipeline");
  const [text, setText] = useState(initial?.text ?? PIPELINE_EXAMPLE);
  const onSuccess = async (r: { ok: boolean; id?: string; version?: string; created?: boolean; warnings?: string[] }) => {
    if (!r.ok) return;
    notifications.show({ color: "teal", title: r.created ? `${kind === "tool" ? "Tool" : "Pipeline"} registered` : "Already registered", message: `${r.id} version ${r.version}${r.created ? "" : " has this very text already"}.` });
    await qc.invalidateQueries({ queryKey: trpc.pipeline.pathKey() });
    if (!r.warnings?.length) onClose();
  };
  const tool = useMutation(trpc.pipeline.registerTool.mutationOptions({ onSuccess }));
  const pipeline = useMutation(trpc.pipeline.registerPipeline.mutationOptions({ onSuccess }));
  const m = kind === "tool" ? tool : pipeline;
  const r = m.data;
  return (
    <Modal opened onClose={onClose} title="Register a tool or a pipeline" size="xl">
      <Stack>
        <SegmentedControl
          value={kind}
          onChange={(v) => {
            const k = v as "tool" | "pipeline";
            setKind(k);
            if (text === TOOL_EXAMPLE || text === PIPELINE_EXAMPLE) setText(k === "tool" ? TOOL_EXAMPLE : PIPELINE_EXAMPLE);
          }}
          data={[{ value: "pipeline", label: "Pipeline" }, { value: "tool", label: "Tool" }]}
        />
        <Text size="sm" c="dimmed">
          YAML or JSON. A new version is registered; runs already started keep the version they started with. The same id and version with another text is refused: raise the version.
        </Text>
        <Textarea label="Definition" value={text} onChange={(e) => { setText(e.currentTarget.value); m.reset(); }} autosize minRows={14} maxRows={26} styles={{ input: { fontFamily: "monospace", fontSize: 12 } }} />
        {r && !r.ok && (
          <Alert color="red" icon={<IconAlertTriangle size={16} />} title="Not registered: nothing was changed" data-testid="definition-problems">
            <Text size="sm" mb={4}>{r.message}</Text>
            <List size="sm" spacing={4}>
              {r.problems.map((p, i) => (
                <List.Item key={i}>
                  <Text span ff="monospace" size="sm">{p.line ? `line ${p.line}` : "definition"}</Text>
                  {p.node ? <Text span size="sm"> (node {p.node})</Text> : null}: {p.message}
                </List.Item>
              ))}
            </List>
          </Alert>
        )}
        {r && r.ok && (r.warnings?.length ?? 0) > 0 && (
          <Alert color="yellow" title={`Registered ${r.id} ${r.version}, with warnings`}>
            <List size="sm">{r.warnings!.map((w, i) => <List.Item key={i}>{w}</List.Item>)}</List>
          </Alert>
        )}
        <ErrorAlert error={m.error} title="Not registered" />
        <Group justify="flex-end">
          <Button variant="default" onClick={onClose}>Close</Button>
          <Button loading={m.isPending} disabled={!text.trim()} onClick={() => m.mutate({ projectId, text })}>Register</Button>
        </Group>
      </Stack>
    </Modal>
  );
}
