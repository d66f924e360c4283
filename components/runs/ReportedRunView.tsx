"use client";
// One run reported through /pim: its DAG coloured by job states, the jobs (filter by node), a job's
// details (command, exit code, host, timings, stdout/stderr, log records) and the run's log.
import { useState } from "react";
import Link from "next/link";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useSubscription } from "@trpc/tanstack-react-query";
import { Alert, Anchor, Badge, Breadcrumbs, Code, Drawer, Group, Paper, ScrollArea, Stack, Table, Text, Title } from "@mantine/core";
import { IconAlertTriangle } from "@tabler/icons-react";
import { useTRPC } from "@/components/trpc";
import { ErrorAlert } from "@/components/ui/ErrorAlert";
import { RunGraph } from "./RunGraph";
import { formatDuration } from "./RunsPanel";
import { stateColor } from "./states";

const short = (path: string | null) => (path ?? "").replace(/^root\//, "");

export function ReportedRunView({ projectId, runId }: { projectId: string; runId: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [node, setNode] = useState<string | null>(null);
  const [jobPath, setJobPath] = useState<string | null>(null);
  const run = useQuery({
    ...trpc.reportedRuns.get.queryOptions({ projectId, runId }, { retry: false }),
    // Changes are pushed (reportedRuns.changes); the slow poll only covers a connection that cannot keep a stream open.
    refetchInterval: (q) => (q.state.data && ["running", "registered"].includes(q.state.data.state) ? 15_000 : false),
  });
  const job = useQuery({ ...trpc.reportedRuns.job.queryOptions({ projectId, runId, path: jobPath ?? "" }), enabled: jobPath !== null });
  useSubscription(
    trpc.reportedRuns.changes.subscriptionOptions(
      { projectId, runId },
      {
        onData: () => {
          void queryClient.invalidateQueries({ queryKey: trpc.reportedRuns.get.queryKey({ projectId, runId }) });
          void queryClient.invalidateQueries({ queryKey: trpc.reportedRuns.job.queryKey() });
        },
      },
    ),
  );
  const crumbs = (
    <Breadcrumbs>
      <Anchor component={Link} href="/projects">Projects</Anchor>
      <Anchor component={Link} href={`/projects/${projectId}?tab=runs`}>{projectId}</Anchor>
      <Text>Runs</Text>
    </Breadcrumbs>
  );
  if (run.error) return <Stack>{crumbs}<ErrorAlert error={run.error} title="Cannot open this run" /></Stack>;
  if (!run.data) return <Stack>{crumbs}<Text c="gray.7">Loading the run…</Text></Stack>;
  const r = run.data;
  const jobs = node ? r.jobs.filter((j) => j.node === node) : r.jobs;
  return (
    <Stack>
      {crumbs}
      <Group justify="space-between">
        <Stack gap={2}>
          <Group gap="xs">
            <Title order={2}>{r.runName}</Title>
            <Badge variant="outline" color="gray">external · fastr</Badge>
            <Badge color={stateColor(r.state)} size="lg" data-testid="run-state">{r.state}</Badge>
          </Group>
          <Text size="sm" c="gray.7">
            Network {r.network}{r.reportedBy ? ` · reported by ${r.reportedBy}` : ""} · started {new Date(r.registeredAt).toLocaleString()} · {formatDuration(r.registeredAt, r.finishedAt ?? (r.state === "running" ? null : r.updatedAt))}
          </Text>
        </Stack>
      </Group>
      {r.failure && (
        <Alert color="red" icon={<IconAlertTriangle />} title="Why it failed">
          {r.failure}. Open the failed job below for its command, exit code and output.
        </Alert>
      )}
      <Paper withBorder p="sm">
        <RunGraph
          nodes={r.graph.nodes.filter((n) => n.jobBearing).map((n) => ({ id: n.path, label: n.title, type: n.type, parent: n.parent, jobs: n.jobs }))}
          links={r.graph.links}
          selected={node}
          onSelect={(id) => setNode(node === id ? null : id)}
        />
        <Text size="xs" c="gray.7" mt={4}>Click a node to list only its jobs.</Text>
      </Paper>
      <Paper withBorder>
        <Group p="sm" justify="space-between">
          <Text fw={600}>Jobs {node ? `of ${short(node)}` : ""} ({jobs.length})</Text>
          {node && <Anchor size="sm" onClick={() => setNode(null)}>Show all</Anchor>}
        </Group>
        <Table striped highlightOnHover>
          <Table.Thead>
            <Table.Tr><Table.Th>Node</Table.Th><Table.Th>Sample</Table.Th><Table.Th>State</Table.Th><Table.Th>Started</Table.Th><Table.Th>Duration</Table.Th></Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {jobs.map((j) => (
              <Table.Tr key={j.path} onClick={() => setJobPath(j.path)} style={{ cursor: "pointer" }} data-job={j.path}>
                <Table.Td>{short(j.node)}</Table.Td>
                <Table.Td>{j.sample ?? "—"}</Table.Td>
                <Table.Td><Badge color={stateColor(j.state)} variant="light">{j.state}</Badge></Table.Td>
                <Table.Td><Text size="sm">{j.startedAt ? new Date(j.startedAt).toLocaleTimeString() : "—"}</Text></Table.Td>
                <Table.Td><Text size="sm">{j.startedAt ? formatDuration(j.startedAt, j.finishedAt) : "—"}</Text></Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </Paper>
      <Paper withBorder p="sm">
        <Text fw={600} mb="xs">Run log ({r.log.length})</Text>
        <ScrollArea.Autosize mah={260}>
          {r.log.length === 0 ? <Text size="sm" c="gray.7">No log records yet.</Text> : (
            <Code block>{r.log.map((l) => `${l.time}  ${l.level.padEnd(7)} ${l.message}`).join("\n")}</Code>
          )}
        </ScrollArea.Autosize>
      </Paper>
      <Drawer opened={jobPath !== null} onClose={() => setJobPath(null)} position="right" size="xl" title={<Text fw={600}>Job {jobPath?.split("/").pop()}</Text>}>
        {job.error && <ErrorAlert error={job.error} title="Cannot open this job" />}
        {job.data && (
          <Stack>
            <Group gap="xs"><Badge color={stateColor(job.data.state)}>{job.data.state}</Badge><Text size="sm">node {short(job.data.node)}</Text></Group>
            <Table>
              <Table.Tbody>
                {Array.isArray(job.data.details.command) && <Table.Tr><Table.Th>Command</Table.Th><Table.Td><Code>{(job.data.details.command as string[]).join(" ")}</Code></Table.Td></Table.Tr>}
                {job.data.details.returncode !== undefined && <Table.Tr><Table.Th>Exit code</Table.Th><Table.Td>{String(job.data.details.returncode)}</Table.Td></Table.Tr>}
                {job.data.details.tool_name !== undefined && <Table.Tr><Table.Th>Tool</Table.Th><Table.Td>{String(job.data.details.tool_name)} {String(job.data.details.tool_version ?? "")}</Table.Td></Table.Tr>}
                {job.data.details.hostinfo !== undefined && <Table.Tr><Table.Th>Host</Table.Th><Table.Td>{String((job.data.details.hostinfo as { hostname?: string }).hostname ?? JSON.stringify(job.data.details.hostinfo))}</Table.Td></Table.Tr>}
                {job.data.details.time_elapsed !== undefined && <Table.Tr><Table.Th>Time elapsed</Table.Th><Table.Td>{String(job.data.details.time_elapsed)} s</Table.Td></Table.Tr>}
                <Table.Tr><Table.Th>Started</Table.Th><Table.Td>{job.data.startedAt ? new Date(job.data.startedAt).toLocaleString() : "—"}</Table.Td></Table.Tr>
                <Table.Tr><Table.Th>Finished</Table.Th><Table.Td>{job.data.finishedAt ? new Date(job.data.finishedAt).toLocaleString() : "—"}</Table.Td></Table.Tr>
              </Table.Tbody>
            </Table>
            {Array.isArray(job.data.details.errors) && (job.data.details.errors as unknown[][]).length > 0 && (
              <Alert color="red" title="Errors">{(job.data.details.errors as unknown[][]).map((e, i) => <Text key={i} size="sm">{String(e[0])}: {String(e[1])}</Text>)}</Alert>
            )}
            <Text fw={600}>stderr</Text>
            <Code block data-testid="job-stderr">{job.data.stderr || "(empty or not reported: fastr sends a job's output when it fails)"}</Code>
            <Text fw={600}>stdout</Text>
            <Code block>{job.data.stdout || "(empty or not reported)"}</Code>
          </Stack>
        )}
      </Drawer>
    </Stack>
  );
}
