"use client";
// One run: state, who started it, its DAG (elkjs) with each node's jobs by state, the jobs (state,
// host, exit code, reason, peak memory), a job's log (live: its end, then what it writes; follow;
// download whole), cancel and
// re-run failed (members), and the run's PROV-JSON.
import { useEffect, useMemo, useRef, useState } from "react";
import Link from "next/link";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useSubscription } from "@trpc/tanstack-react-query";
import type { LogEvent } from "@/lib/pipelines/api";
import { Anchor, Badge, Breadcrumbs, Button, Card, Code, Drawer, Group, ScrollArea, Skeleton, Stack, Switch, Table, Text, Title } from "@mantine/core";
import { IconDownload, IconPlayerStop, IconRefresh } from "@tabler/icons-react";
import { useTRPC } from "@/components/trpc";
import { ErrorAlert } from "@/components/ui/ErrorAlert";
import { saveBlob } from "@/components/projects/download-client";
import { PipelineDag } from "./PipelineDag";
import { jobStateColor, runStateColor, RunProgress } from "./PipelinesPanel";

const duration = (a: Date | string | null, b: Date | string | null) => (a && b ? `${((new Date(b).getTime() - new Date(a).getTime()) / 1000).toFixed(1)} s` : "");

/** The log as it grows: the tail, then every append pushed by the server; "Follow" keeps the end in view. */
function LiveLog({ projectId, jobId }: { projectId: string; jobId: string }) {
  const trpc = useTRPC();
  const [text, setText] = useState("");
  const [truncated, setTruncated] = useState(false);
  const [follow, setFollow] = useState(true);
  const viewport = useRef<HTMLDivElement>(null);
  const sub = useSubscription(
    trpc.pipeline.jobLog.subscriptionOptions(
      { projectId, jobId },
      {
        onData: (e: LogEvent) => {
          if (e.kind === "tail") {
            setText(e.text);
            setTruncated(e.truncated);
          } else if (e.kind === "append") setText((t) => (t + e.text).slice(-1_000_000));
        },
      },
    ),
  );
  useEffect(() => {
    if (follow && viewport.current) viewport.current.scrollTo({ top: viewport.current.scrollHeight });
  }, [text, follow]);
  return (
    <Stack gap={4}>
      <Group justify="space-between">
        <Text size="sm" fw={600}>Log{truncated ? " (its end; download it for the whole)" : ""}</Text>
        <Group gap="xs">
          <Badge size="sm" variant="light" color={sub.status === "pending" ? "blue" : sub.status === "error" ? "red" : "gray"} data-testid="log-live">
            {sub.status === "pending" ? "live" : sub.status === "error" ? "interrupted; retrying" : "complete"}
          </Badge>
          <Switch size="xs" label="Follow" checked={follow} onChange={(e) => setFollow(e.currentTarget.checked)} />
          <Button size="compact-xs" variant="default" component="a" href={`/api/projects/${encodeURIComponent(projectId)}/jobs/${jobId}/log`} leftSection={<IconDownload size={12} />}>Download whole</Button>
        </Group>
      </Group>
      <ScrollArea h={400} viewportRef={viewport} onWheel={() => setFollow(false)}>
        <Code block data-testid="job-log">{text || "(empty)"}</Code>
      </ScrollArea>
    </Stack>
  );
}

function JobLog({ projectId, jobId, onClose }: { projectId: string; jobId: string | null; onClose: () => void }) {
  const trpc = useTRPC();
  const job = useQuery(trpc.pipeline.job.queryOptions({ projectId, jobId: jobId ?? "" }, { enabled: Boolean(jobId), refetchInterval: (q) => (q.state.data?.state === "running" ? 2000 : false) }));
  const j = job.data;
  return (
    <Drawer opened={Boolean(jobId)} onClose={onClose} position="right" size="xl" title={j ? `Job ${j.key.split(":")[0]} (${j.state})` : "Job"}>
      {job.error && <ErrorAlert error={job.error} title="Cannot read the job" />}
      {j && (
        <Stack gap="xs">
          <Text size="sm">Tool {j.toolId}@{j.toolVersion} · {j.executor} on {j.host ?? "—"} · exit {j.exitCode ?? "—"} · attempt {j.attempt}</Text>
          {j.reason && <Text size="sm" c="red">{j.reason}</Text>}
          {j.reusedFromJobId && <Text size="sm" c="teal">Outputs reused from job {j.reusedFromJobId}</Text>}
          <Code block>{j.command.join(" ")}</Code>
          <LiveLog key={j.id} projectId={projectId} jobId={j.id} />
        </Stack>
      )}
    </Drawer>
  );
}

export function RunView({ projectId, runId }: { projectId: string; runId: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  // Changes are pushed (runChanges); the slow poll only covers a connection that cannot keep a stream open.
  const run = useQuery(trpc.pipeline.run.queryOptions({ projectId, runId }, { refetchInterval: (q) => (q.state.data && ["queued", "running"].includes(q.state.data.state) ? 15_000 : false) }));
  const [jobId, setJobId] = useState<string | null>(null);
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.pipeline.run.queryKey({ projectId, runId }) });
  useSubscription(
    trpc.pipeline.runChanges.subscriptionOptions(
      { projectId, runId },
      {
        onData: () => {
          void refresh();
          void queryClient.invalidateQueries({ queryKey: trpc.pipeline.job.queryKey() });
        },
      },
    ),
  );
  const cancel = useMutation(trpc.pipeline.cancel.mutationOptions({ onSuccess: refresh }));
  const rerun = useMutation(trpc.pipeline.rerunFailed.mutationOptions({ onSuccess: refresh }));
  const prov = useMutation({
    mutationFn: () => queryClient.fetchQuery(trpc.pipeline.provenance.queryOptions({ projectId, runId })),
    onSuccess: (doc) => saveBlob(new Blob([JSON.stringify(doc, null, 2)], { type: "application/json" }), `run-${runId}.prov.json`),
  });
  const states = useMemo(() => {
    const out: Record<string, Record<string, number>> = {};
    for (const j of run.data?.jobs ?? []) {
      out[j.node] ??= {};
      out[j.node]![j.state] = (out[j.node]![j.state] ?? 0) + 1;
    }
    return out;
  }, [run.data]);
  if (run.isPending) return <Stack><Skeleton h={36} w={300} /><Skeleton h={200} /></Stack>;
  if (run.error) return <ErrorAlert error={run.error} title="Cannot open this run" />;
  const r = run.data;
  const active = r.state === "queued" || r.state === "running";
  return (
    <Stack gap="lg">
      <Breadcrumbs>
        <Anchor component={Link} href="/projects">Projects</Anchor>
        <Anchor component={Link} href={`/projects/${projectId}?tab=pipelines`} ff="monospace">{projectId}</Anchor>
        <Text ff="monospace">run {r.id.slice(0, 10)}</Text>
      </Breadcrumbs>
      <Group justify="space-between" align="flex-start">
        <div>
          <Title order={2}>{r.pipelineId}@{r.pipelineVersion}</Title>
          <Group gap="xs" mt={6}>
            <Badge color={runStateColor[r.state]} size="lg" data-testid="run-state">{r.state}</Badge>
            <RunProgress counts={r.counts} total={r.total} />
            <Text size="sm" c="dimmed">{r.counts.succeeded ?? 0} of {r.total} jobs succeeded · {r.executor} · started by {r.startedBy.split(":")[0]} · {r.experimentIds.length} experiment(s)</Text>
          </Group>
          {r.error && <Text c="red" size="sm" mt={6}>{r.error}</Text>}
          {r.notes.map((n) => <Text key={n} size="sm" c="dimmed">{n}</Text>)}
        </div>
        <Group>
          {active && <Button color="red" variant="light" leftSection={<IconPlayerStop size={16} />} loading={cancel.isPending} onClick={() => cancel.mutate({ projectId, runId })}>Cancel run</Button>}
          {(r.state === "failed" || r.state === "cancelled") && <Button variant="light" leftSection={<IconRefresh size={16} />} loading={rerun.isPending} onClick={() => rerun.mutate({ projectId, runId })}>Re-run failed jobs</Button>}
          <Button variant="default" leftSection={<IconDownload size={16} />} onClick={() => prov.mutate()}>PROV-JSON</Button>
        </Group>
      </Group>
      {(cancel.error ?? rerun.error) && <ErrorAlert error={(cancel.error ?? rerun.error)!} title="That did not work" />}
      <Card withBorder>
        <Title order={4} mb="sm">Graph</Title>
        <PipelineDag graph={r.graph} states={states} />
      </Card>
      <Card withBorder>
        <Title order={4} mb="sm">Jobs</Title>
        <Table highlightOnHover>
          <Table.Thead>
            <Table.Tr><Table.Th>Node</Table.Th><Table.Th>Sample</Table.Th><Table.Th>State</Table.Th><Table.Th>Host</Table.Th><Table.Th>Exit</Table.Th><Table.Th>Time</Table.Th><Table.Th>Peak memory</Table.Th><Table.Th>Reason</Table.Th></Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {r.jobs.map((j) => (
              <Table.Tr key={j.id} onClick={() => setJobId(j.id)} style={{ cursor: "pointer" }}>
                <Table.Td><Anchor component="button" size="sm" ff="monospace">{j.node}</Anchor></Table.Td>
                <Table.Td><Text size="xs" ff="monospace" title={j.sample}>{j.level}: {j.sample.split("/").pop()?.slice(0, 10)}</Text></Table.Td>
                <Table.Td><Badge color={jobStateColor[j.state]} variant="light">{j.state.replace(/_/g, " ")}</Badge>{j.reusedFromJobId && <Badge ml={4} variant="outline" color="teal">reused</Badge>}</Table.Td>
                <Table.Td><Text size="sm">{j.host ?? "—"}</Text></Table.Td>
                <Table.Td><Text size="sm">{j.exitCode ?? "—"}</Text></Table.Td>
                <Table.Td><Text size="sm">{duration(j.startedAt, j.endedAt)}</Text></Table.Td>
                <Table.Td><Text size="sm">{j.peakMemoryKb ? `${(j.peakMemoryKb / 1024).toFixed(0)} MB` : "—"}</Text></Table.Td>
                <Table.Td><Text size="xs" c={j.reason ? "red" : undefined} maw={300}>{j.reason ?? ""}</Text></Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </Card>
      <JobLog projectId={projectId} jobId={jobId} onClose={() => setJobId(null)} />
    </Stack>
  );
}
