"use client";
// An experiment's results in Browse (issues #12, #14): the values and resources its pipelines stored
// (on it, its scans, its subject) with the run that stored each, and — for members — its case's
// chain (runs, tasks, workflow) from components/monitoring/CaseChain.
import Link from "next/link";
import { useQuery } from "@tanstack/react-query";
import { Anchor, Card, Code, Group, Stack, Table, Text, Title } from "@mantine/core";
import { useTRPC } from "@/components/trpc";
import { ErrorAlert } from "@/components/ui/ErrorAlert";
import { CaseChain } from "@/components/monitoring/CaseChain";

const show = (v: unknown) => (typeof v === "string" ? v : JSON.stringify(v));
const size = (n: number) => (n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`);

export function ExperimentResults({ projectId, experimentId }: { projectId: string; experimentId: string }) {
  const trpc = useTRPC();
  const project = useQuery(trpc.project.get.queryOptions({ projectId }, { retry: false }));
  const q = useQuery(trpc.pipeline.results.queryOptions({ projectId, experimentId }, { refetchInterval: 15_000 }));
  const p = encodeURIComponent(projectId);
  const runLink = (r: { id: string; pipeline: string | null } | null) => (r ? <Anchor component={Link} href={`/projects/${p}/runs/${r.id}`} size="sm">{r.pipeline ?? r.id}</Anchor> : <Text size="sm" c="dimmed">—</Text>);
  return (
    <Stack gap="md" data-testid="experiment-results">
      <Card withBorder>
        <Title order={5} mb="xs">Pipeline results</Title>
        {q.error && <ErrorAlert error={q.error} title="Cannot load the results" />}
        {q.data && q.data.values.length === 0 && q.data.resources.length === 0 && (
          <Text size="sm" c="dimmed">No pipeline has stored values or files for this experiment yet. Start one on the Pipelines tab.</Text>
        )}
        {q.data && q.data.values.length > 0 && (
          <Table fz="sm" striped data-testid="result-values">
            <Table.Thead><Table.Tr><Table.Th>Value</Table.Th><Table.Th>On</Table.Th><Table.Th></Table.Th><Table.Th>Run</Table.Th></Table.Tr></Table.Thead>
            <Table.Tbody>
              {q.data.values.map((v) => (
                <Table.Tr key={v.id}>
                  <Table.Td ff="monospace">{v.name}</Table.Td>
                  <Table.Td>{v.on}</Table.Td>
                  <Table.Td><Code>{show(v.value)}</Code></Table.Td>
                  <Table.Td>{runLink(v.run)}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        )}
        {q.data && q.data.resources.length > 0 && (
          <Table fz="sm" striped mt="sm" data-testid="result-resources">
            <Table.Thead><Table.Tr><Table.Th>Resource</Table.Th><Table.Th>On</Table.Th><Table.Th>Files</Table.Th><Table.Th>Run</Table.Th></Table.Tr></Table.Thead>
            <Table.Tbody>
              {q.data.resources.map((r) => (
                <Table.Tr key={r.id}>
                  <Table.Td ff="monospace">{r.name}</Table.Td>
                  <Table.Td>{r.on}</Table.Td>
                  <Table.Td><Group gap={4}><Text size="sm">{r.files}</Text><Text size="xs" c="dimmed">({size(r.bytes)})</Text></Group></Table.Td>
                  <Table.Td>{runLink(r.run)}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        )}
      </Card>
      {project.data && project.data.access !== "collaborator" && (
        <Card withBorder>
          <CaseChain projectId={projectId} experimentId={experimentId} />
        </Card>
      )}
    </Stack>
  );
}
