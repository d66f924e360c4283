"use client";
import { useInfiniteQuery } from "@tanstack/react-query";
import { Badge, Button, Card, Code, Group, Stack, Table, Text } from "@mantine/core";
import { useTRPC } from "@/components/trpc";
import { ErrorAlert } from "@/components/ui/ErrorAlert";

const actionColor: Record<string, string> = {
  "project.create": "teal",
  "project.update": "blue",
  "member.add": "indigo",
  "member.role": "violet",
  "member.remove": "red",
  "invitation.create": "yellow",
  "invitation.cancel": "gray",
  "invitation.accept": "teal",
};

function Change({ value }: { value: unknown }) {
  if (value === null || value === undefined) return <Text size="xs" c="dimmed">—</Text>;
  return (
    <Stack gap={2}>
      {Object.entries(value as Record<string, unknown>).map(([k, v]) => (
        <Text key={k} size="xs"><Text span c="dimmed" size="xs">{k}:</Text> <Code>{typeof v === "string" ? v : JSON.stringify(v)}</Code></Text>
      ))}
    </Stack>
  );
}

export function AuditPanel({ projectId }: { projectId: string }) {
  const trpc = useTRPC();
  const audit = useInfiniteQuery(
    trpc.audit.list.infiniteQueryOptions({ projectId, limit: 50 }, { getNextPageParam: (last) => last.nextCursor ?? undefined, refetchInterval: 15_000 }),
  );
  const events = audit.data?.pages.flatMap((p) => p.events) ?? [];
  return (
    <Stack>
      <ErrorAlert error={audit.error} title="Could not load the audit log" onRetry={() => void audit.refetch()} />
      <Card withBorder padding={0} radius="md">
        <Table verticalSpacing="sm" horizontalSpacing="md" striped>
          <Table.Thead>
            <Table.Tr>
              <Table.Th w={180}>When</Table.Th>
              <Table.Th>Who</Table.Th>
              <Table.Th>What</Table.Th>
              <Table.Th>Before</Table.Th>
              <Table.Th>After</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {events.map((e) => (
              <Table.Tr key={e.id}>
                <Table.Td><Text size="sm">{new Date(e.at).toLocaleString()}</Text></Table.Td>
                <Table.Td><Text size="sm">{e.actor}</Text>{e.actorEmail && <Text size="xs" c="dimmed">{e.actorEmail}</Text>}</Table.Td>
                <Table.Td><Badge variant="light" color={actionColor[e.action] ?? "gray"}>{e.action}</Badge></Table.Td>
                <Table.Td><Change value={e.before} /></Table.Td>
                <Table.Td><Change value={e.after} /></Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
        {events.length === 0 && !audit.isPending && <Text p="md" c="dimmed">No changes recorded yet.</Text>}
      </Card>
      {audit.hasNextPage && (
        <Group justify="center">
          <Button variant="default" loading={audit.isFetchingNextPage} onClick={() => void audit.fetchNextPage()}>Load older entries</Button>
        </Group>
      )}
    </Stack>
  );
}
