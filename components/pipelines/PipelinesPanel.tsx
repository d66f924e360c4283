"use client";
// A project's Pipelines tab: the registered pipelines (start one on every archived experiment,
// members), tools, and the runs with their state and progress (newest first, paged).
import { useState } from "react";
import Link from "next/link";
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Anchor, Badge, Button, Card, Group, Progress, Select, Stack, Table, Text, Title } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { IconPlayerPlay, IconPlus } from "@tabler/icons-react";
import { useTRPC } from "@/components/trpc";
import { ErrorAlert } from "@/components/ui/ErrorAlert";
import { DefinitionEditor } from "./DefinitionEditor";

export const runStateColor: Record<string, string> = { queued: "gray", running: "blue", succeeded: "teal", failed: "red", cancelled: "orange" };
export const jobStateColor: Record<string, string> = { waiting: "gray", queued: "gray", running: "blue", succeeded: "teal", failed: "red", timed_out: "red", out_of_memory: "red", cancelled: "orange", skipped: "yellow" };

export function RunProgress({ counts, total }: { counts: Record<string, number | undefined>; total: number }) {
  const part = (s: string[]) => (total ? (s.reduce((a, k) => a + (counts[k] ?? 0), 0) / total) * 100 : 0);
  return (
    <Progress.Root size="lg" aria-label="Jobs by state" w={200}>
      <Progress.Section value={part(["succeeded"])} color="teal" />
      <Progress.Section value={part(["failed", "timed_out", "out_of_memory"])} color="red" />
      <Progress.Section value={part(["cancelled", "skipped"])} color="orange" />
      <Progress.Section value={part(["running"])} color="blue" />
    </Progress.Root>
  );
}

export function PipelinesPanel({ projectId, canRun, isOwner = false }: { projectId: string; canRun: boolean; isOwner?: boolean }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [editing, setEditing] = useState<{ kind: "tool" | "pipeline"; text: string } | null | false>(false);
  const openEditor = async (rowId: string) => {
    const d = await queryClient.fetchQuery(trpc.pipeline.definition.queryOptions({ projectId, pipelineRowId: rowId }));
    setEditing({ kind: "pipeline", text: d.sourceText });
  };
  const pipelines = useQuery(trpc.pipeline.pipelines.queryOptions({ projectId }));
  const tools = useQuery(trpc.pipeline.tools.queryOptions({ projectId }));
  const runs = useInfiniteQuery(
    trpc.pipeline.runs.infiniteQueryOptions({ projectId, limit: 25 }, { getNextPageParam: (p) => p.nextCursor ?? undefined, refetchInterval: 3000 }),
  );
  const [executor, setExecutor] = useState<"local" | "slurm">("local");
  const start = useMutation(
    trpc.pipeline.start.mutationOptions({
      onSuccess: async (r) => {
        notifications.show({ color: r.state === "failed" ? "red" : "teal", title: r.state === "failed" ? "Nothing to run" : "Run started", message: r.error ?? `Run ${r.runId}` });
        await queryClient.invalidateQueries({ queryKey: trpc.pipeline.runs.infiniteQueryKey({ projectId, limit: 25 }) });
      },
    }),
  );
  const allRuns = runs.data?.pages.flatMap((p) => p.runs) ?? [];
  return (
    <Stack gap="lg">
      <Card withBorder>
        <Group justify="space-between" mb="sm">
          <Title order={4}>Pipelines</Title>
          <Group gap="xs">
            {isOwner && <Button size="xs" variant="default" leftSection={<IconPlus size={14} />} onClick={() => setEditing(null)}>Register a tool or pipeline…</Button>}
            {canRun && <Select aria-label="Executor" size="xs" w={120} data={["local", "slurm"]} value={executor} onChange={(v) => setExecutor((v as "local" | "slurm") ?? "local")} />}
          </Group>
        </Group>
        {isOwner && editing !== false && <DefinitionEditor projectId={projectId} initial={editing} onClose={() => setEditing(false)} />}
        {pipelines.error && <ErrorAlert error={pipelines.error} title="Cannot list the pipelines" />}
        {start.error && <ErrorAlert error={start.error} title="The run was not started" />}
        {pipelines.data && !pipelines.data.length && <Text c="dimmed">No pipelines yet. An owner registers them (atrium seed-demo registers the examples in DEMO).</Text>}
        {pipelines.data && pipelines.data.length > 0 && (
          <Table>
            <Table.Thead>
              <Table.Tr><Table.Th>Pipeline</Table.Th><Table.Th>Version</Table.Th><Table.Th>Nodes</Table.Th><Table.Th>Scope</Table.Th><Table.Th /></Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {pipelines.data.map((p) => (
                <Table.Tr key={p.rowId}>
                  <Table.Td><Text fw={600} ff="monospace">{p.pipelineId}</Text>{p.description && <Text size="xs" c="dimmed">{p.description}</Text>}</Table.Td>
                  <Table.Td>{p.version}</Table.Td>
                  <Table.Td>{p.nodes}</Table.Td>
                  <Table.Td>{p.scope}</Table.Td>
                  <Table.Td>
                    <Group gap="xs" wrap="nowrap">
                    {isOwner && p.scope !== "site" && <Button size="xs" variant="subtle" onClick={() => void openEditor(p.rowId)}>Edit…</Button>}
                    {canRun && (
                      <Button size="xs" variant="light" leftSection={<IconPlayerPlay size={14} />} loading={start.isPending && start.variables?.pipeline === p.rowId} onClick={() => start.mutate({ projectId, pipeline: p.rowId, all: true, experimentIds: [], executor, priority: 0 })}>
                        Run on all experiments
                      </Button>
                    )}
                    </Group>
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        )}
        {tools.data && tools.data.length > 0 && (
          <Text size="sm" c="dimmed" mt="sm">
            Tools: {tools.data.map((t) => `${t.toolId}@${t.version}`).join(", ")}
          </Text>
        )}
      </Card>
      <Card withBorder>
        <Title order={4} mb="sm">Runs</Title>
        {runs.error && <ErrorAlert error={runs.error} title="Cannot list the runs" />}
        {runs.data && !allRuns.length && <Text c="dimmed">No runs yet.</Text>}
        {allRuns.length > 0 && (
          <Table>
            <Table.Thead>
              <Table.Tr><Table.Th>Run</Table.Th><Table.Th>Pipeline</Table.Th><Table.Th>State</Table.Th><Table.Th>Jobs</Table.Th><Table.Th>Started</Table.Th><Table.Th>By</Table.Th></Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {allRuns.map((r) => (
                <Table.Tr key={r.id}>
                  <Table.Td><Anchor component={Link} href={`/projects/${projectId}/runs/${r.id}`} ff="monospace" size="sm">{r.id.slice(0, 10)}</Anchor></Table.Td>
                  <Table.Td><Text size="sm" ff="monospace">{r.pipelineId}@{r.pipelineVersion}</Text></Table.Td>
                  <Table.Td><Badge color={runStateColor[r.state]}>{r.state}</Badge>{r.error && <Text size="xs" c="red" maw={320} truncate="end" title={r.error}>{r.error}</Text>}</Table.Td>
                  <Table.Td>
                    <Group gap="xs" wrap="nowrap"><RunProgress counts={r.counts} total={r.total} /><Text size="xs">{r.counts.succeeded ?? 0}/{r.total}</Text></Group>
                  </Table.Td>
                  <Table.Td><Text size="sm">{new Date(r.createdAt).toLocaleString()}</Text></Table.Td>
                  <Table.Td><Text size="sm">{r.startedBy.split(":")[0]}</Text></Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        )}
        {runs.hasNextPage && <Button variant="subtle" mt="sm" onClick={() => void runs.fetchNextPage()} loading={runs.isFetchingNextPage}>More runs</Button>}
      </Card>
    </Stack>
  );
}
