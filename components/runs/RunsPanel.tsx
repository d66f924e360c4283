"use client";
// The project's Runs tab: runs reported by fastr installations through /pim (marked external),
// with state, job counts by state and duration; filters, search and paging; updates while open.
import { useState } from "react";
import Link from "next/link";
import { useQuery } from "@tanstack/react-query";
import { Anchor, Badge, Button, Code, Group, Paper, Progress, SegmentedControl, Stack, Table, Text, TextInput, Tooltip } from "@mantine/core";
import { IconSearch } from "@tabler/icons-react";
import { useTRPC } from "@/components/trpc";
import { ErrorAlert } from "@/components/ui/ErrorAlert";
import { STATE_HEX, STATE_ORDER, stateColor } from "./states";

const STATES = ["all", "running", "failed", "success", "registered", "cancelled"] as const;

export function formatDuration(from: Date | string, to: Date | string | null): string {
  const ms = (to ? new Date(to).getTime() : Date.now()) - new Date(from).getTime();
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

export function JobBar({ jobs }: { jobs: Record<string, number> }) {
  const total = Object.values(jobs).reduce((a, b) => a + b, 0);
  if (!total) return <Text size="sm" c="gray.7">no jobs yet</Text>;
  const done = (jobs.success ?? 0) + (jobs.failed ?? 0) + (jobs.cancelled ?? 0);
  return (
    <Stack gap={4}>
      <Progress.Root size="md" aria-label={`${done} of ${total} jobs done`}>
        {STATE_ORDER.filter((s) => jobs[s]).map((s) => (
          <Tooltip key={s} label={`${jobs[s]} ${s}`}>
            <Progress.Section value={(100 * jobs[s]!) / total} color={STATE_HEX[s]} />
          </Tooltip>
        ))}
      </Progress.Root>
      <Text size="xs" c="gray.7">{STATE_ORDER.filter((s) => jobs[s]).map((s) => `${jobs[s]} ${s}`).join(" · ")}</Text>
    </Stack>
  );
}

export function RunsPanel({ projectId }: { projectId: string }) {
  const trpc = useTRPC();
  const [state, setState] = useState<(typeof STATES)[number]>("all");
  const [search, setSearch] = useState("");
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors[cursors.length - 1];
  const runs = useQuery({
    ...trpc.reportedRuns.list.queryOptions({ projectId, state: state === "all" ? undefined : state, search: search || undefined, cursor, limit: 50 }),
    refetchInterval: 3_000,
  });
  return (
    <Stack>
      <Group justify="space-between" align="flex-end">
        <Stack gap={2}>
          <Text fw={600}>Runs reported by fastr</Text>
          <Text size="sm" c="gray.7">
            Runs of fastr installations that report here (set fastr&apos;s <Code>pim_host</Code> to <Code>https://fastr:&lt;token&gt;@&lt;this portal&gt;/pim</Code> with a token of scope &quot;report&quot;).
          </Text>
        </Stack>
        <TextInput aria-label="Search runs" placeholder="Run or network" leftSection={<IconSearch size={16} />} value={search} onChange={(e) => { setSearch(e.currentTarget.value); setCursors([]); }} />
      </Group>
      <SegmentedControl aria-label="Filter by state" value={state} onChange={(v) => { setState(v as typeof state); setCursors([]); }} data={STATES.map((s) => ({ value: s, label: s }))} w="fit-content" />
      {runs.error && <ErrorAlert error={runs.error} title="Cannot list the runs" />}
      {runs.data && (
        <Paper withBorder>
          <Table striped highlightOnHover>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Run</Table.Th>
                <Table.Th>Network</Table.Th>
                <Table.Th>State</Table.Th>
                <Table.Th w={260}>Jobs</Table.Th>
                <Table.Th>Started</Table.Th>
                <Table.Th>Duration</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {runs.data.items.length === 0 && (
                <Table.Tr>
                  <Table.Td colSpan={6}><Text c="gray.7" size="sm">No reported runs {state !== "all" ? `in state ${state}` : "yet"}.</Text></Table.Td>
                </Table.Tr>
              )}
              {runs.data.items.map((r) => (
                <Table.Tr key={r.id}>
                  <Table.Td>
                    <Group gap={6}>
                      <Anchor component={Link} href={`/projects/${projectId}/runs/external/${r.id}`} fw={500}>{r.runName}</Anchor>
                      <Badge size="xs" variant="outline" color="gray">external</Badge>
                    </Group>
                    {r.reportedBy && <Text size="xs" c="gray.7">reported by {r.reportedBy}</Text>}
                  </Table.Td>
                  <Table.Td>{r.network}</Table.Td>
                  <Table.Td><Badge color={stateColor(r.state)} variant="light">{r.state}</Badge></Table.Td>
                  <Table.Td><JobBar jobs={r.jobs} /></Table.Td>
                  <Table.Td><Text size="sm">{new Date(r.registeredAt).toLocaleString()}</Text></Table.Td>
                  <Table.Td><Text size="sm">{formatDuration(r.registeredAt, r.finishedAt ?? (r.state === "running" ? null : r.updatedAt))}</Text></Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Paper>
      )}
      {runs.data && (
        <Group justify="space-between">
          <Text size="sm" c="gray.7">{runs.data.items.length} of {runs.data.total.toLocaleString()} runs</Text>
          <Group gap="xs">
            <Button size="xs" variant="default" disabled={!cursors.length} onClick={() => setCursors(cursors.slice(0, -1))}>Previous</Button>
            <Button size="xs" variant="default" disabled={!runs.data.nextCursor} onClick={() => setCursors([...cursors, runs.data!.nextCursor!])}>Next</Button>
          </Group>
        </Group>
      )}
    </Stack>
  );
}
