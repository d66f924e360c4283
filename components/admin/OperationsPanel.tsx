"use client";
// Operations (site admins): alerts, every queue with its counts and the last 3 hours, the workers
// alive and what each is doing. Pushed by the server every few seconds (tRPC subscription over
// server-sent events); the first paint comes from the plain query.
import { useQuery } from "@tanstack/react-query";
import { useSubscription } from "@trpc/tanstack-react-query";
import { Alert, Badge, Card, Group, Skeleton, Stack, Table, Text, Title, Tooltip } from "@mantine/core";
import { IconAlertTriangle } from "@tabler/icons-react";
import { useTRPC } from "@/components/trpc";
import { ErrorAlert } from "@/components/ui/ErrorAlert";
import type { OperationsOverview, QueueOverview } from "@/server/monitoring/overview";

const fmtMs = (ms: number | null) => (ms === null ? "–" : ms < 1000 ? `${Math.round(ms)} ms` : ms < 60_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 60_000)} min`);

/** Finished jobs per 5 minutes over 3 hours: completed (teal) stacked under failed (red). */
function QueueChart({ q }: { q: QueueOverview }) {
  const w = 216;
  const h = 36;
  const max = Math.max(1, ...q.chart.map((m) => m.completed + m.failed));
  const bw = w / q.chart.length;
  return (
    <svg width={w} height={h} role="img" aria-label={`${q.name}: jobs finished per 5 minutes over the last 3 hours`} data-testid={`chart-${q.name}`}>
      <rect x={0} y={0} width={w} height={h} fill="var(--mantine-color-gray-0)" />
      {q.chart.map((m, i) => {
        const ch = (m.completed / max) * (h - 2);
        const fh = (m.failed / max) * (h - 2);
        return (
          <g key={m.minute}>
            <title>{`${new Date(m.minute * 60_000).toLocaleTimeString()}: ${m.completed} done, ${m.failed} failed, wait ${fmtMs(m.meanWaitMs)}`}</title>
            {ch > 0 && <rect x={i * bw} y={h - ch} width={Math.max(1, bw - 1)} height={ch} fill="var(--mantine-color-teal-6)" />}
            {fh > 0 && <rect x={i * bw} y={h - ch - fh} width={Math.max(1, bw - 1)} height={fh} fill="var(--mantine-color-red-6)" />}
          </g>
        );
      })}
    </svg>
  );
}

export function OperationsPanel() {
  const trpc = useTRPC();
  const first = useQuery(trpc.monitoring.overview.queryOptions(undefined, { retry: false }));
  const live = useSubscription(trpc.monitoring.live.subscriptionOptions({ intervalMs: 3000 }));
  const data = (live.data ?? first.data) as OperationsOverview | undefined;
  if (first.error && !data) return <ErrorAlert error={first.error} title="Cannot load the operations view" />;
  if (!data) return <Skeleton height={300} />;
  return (
    <Stack data-testid="operations">
      <Group justify="space-between">
        <Title order={2}>Operations</Title>
        <Text size="sm" c="dimmed" data-testid="operations-updated">
          {live.status === "pending" ? "live" : live.status === "error" ? "live updates interrupted; retrying" : "connecting"} · updated {new Date(data.at).toLocaleTimeString()}
        </Text>
      </Group>
      {data.alerts.length === 0 ? (
        <Alert color="teal" data-testid="no-alerts">No alerts: queues drain, workers beat, disk has room.</Alert>
      ) : (
        data.alerts.map((a) => (
          <Alert key={a.id} color={a.severity === "critical" ? "red" : "yellow"} icon={<IconAlertTriangle size={18} />} title={a.title} data-testid="alert">
            <Text size="sm">{a.detail}</Text>
            <Text size="sm" fw={500}>{a.action}</Text>
          </Alert>
        ))
      )}
      <Card withBorder>
        <Title order={4} mb="xs">Queues</Title>
        <Table data-testid="queues">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Queue</Table.Th><Table.Th>Waiting</Table.Th><Table.Th>Active</Table.Th><Table.Th>Delayed</Table.Th><Table.Th>Failed</Table.Th><Table.Th>Completed</Table.Th>
              <Table.Th>Oldest waiting</Table.Th><Table.Th>Last hour</Table.Th><Table.Th>Mean wait / run</Table.Th><Table.Th>3 hours</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {data.queues.map((q) => (
              <Table.Tr key={q.name} data-testid={`queue-${q.name}`}>
                <Table.Td><code>{q.name}</code></Table.Td>
                <Table.Td>{q.counts.waiting + q.counts.prioritized}</Table.Td>
                <Table.Td>{q.counts.active}</Table.Td>
                <Table.Td>{q.counts.delayed}</Table.Td>
                <Table.Td>{q.counts.failed ? <Badge color="red" variant="light">{q.counts.failed}</Badge> : 0}</Table.Td>
                <Table.Td>{q.counts.completed}</Table.Td>
                <Table.Td>{fmtMs(q.oldestWaitingMs)}</Table.Td>
                <Table.Td>
                  {q.lastHour.completed} done{q.lastHour.failed ? `, ${q.lastHour.failed} failed` : ""}{q.lastHour.stalled ? `, ${q.lastHour.stalled} stalled` : ""}
                </Table.Td>
                <Table.Td>{fmtMs(q.lastHour.meanWaitMs)} / {fmtMs(q.lastHour.meanRunMs)}</Table.Td>
                <Table.Td><QueueChart q={q} /></Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </Card>
      <Card withBorder>
        <Title order={4} mb="xs">Workers</Title>
        {data.workers.alive.length === 0 && <Text c="red" data-testid="no-workers">No worker is running.</Text>}
        <Table data-testid="workers">
          <Table.Tbody>
            {data.workers.alive.map((w) => (
              <Table.Tr key={w.id}>
                <Table.Td><Badge color="teal" variant="light">alive</Badge></Table.Td>
                <Table.Td>{w.host} (pid {w.pid})</Table.Td>
                <Table.Td>up since {new Date(w.startedAt).toLocaleString()}</Table.Td>
                <Table.Td>
                  {w.active.length === 0 ? "idle" : w.active.map((a) => (
                    <Tooltip key={`${a.queue}:${a.jobId}`} label={`job ${a.jobId}`}><Badge variant="outline" mr={4}>{a.queue} · {fmtMs(Date.now() - a.since)}</Badge></Tooltip>
                  ))}
                </Table.Td>
              </Table.Tr>
            ))}
            {data.workers.gone.map((w) => (
              <Table.Tr key={w.id}>
                <Table.Td><Badge color="gray" variant="light">gone</Badge></Table.Td>
                <Table.Td>{w.host}</Table.Td>
                <Table.Td colSpan={2}>last heartbeat {new Date(w.lastSeenMs).toLocaleString()}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </Card>
      {data.disk && (
        <Text size="sm" c="dimmed">
          Data directory {data.disk.path}: {(data.disk.freeBytes / 1024 ** 3).toFixed(1)} GiB free of {(data.disk.totalBytes / 1024 ** 3).toFixed(1)} GiB.
        </Text>
      )}
    </Stack>
  );
}
