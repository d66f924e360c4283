"use client";
// My tasks (/tasks): the queues (task groups) I can take tasks from, across my projects, with their
// counts, kept live (refetched every 5 s), and "Start next", which locks the next task to me and
// opens it; then the tasks I hold or did lately.
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useMutation, useQuery } from "@tanstack/react-query";
import { Anchor, Badge, Button, Card, Group, SimpleGrid, Skeleton, Stack, Table, Text, Title } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { IconPlayerPlay } from "@tabler/icons-react";
import { useTRPC } from "@/components/trpc";
import { ErrorAlert } from "@/components/ui/ErrorAlert";

export function MyTasks() {
  const trpc = useTRPC();
  const router = useRouter();
  const queues = useQuery(trpc.tasks.queues.queryOptions(undefined, { refetchInterval: 5000 }));
  const next = useMutation(
    trpc.tasks.startNext.mutationOptions({
      onSuccess: (t) => {
        if (t) router.push(`/tasks/${t.id}`);
        else notifications.show({ color: "gray", title: "Nothing to do", message: "This queue has no task left for you." });
      },
    }),
  );
  return (
    <Stack gap="lg">
      <div>
        <Title order={2}>My tasks</Title>
        <Text c="dimmed" size="sm">The task groups of your projects that you read for. "Start next" locks the next task to you and opens it.</Text>
      </div>
      <ErrorAlert error={queues.error ?? next.error} />
      {queues.isPending ? (
        <Skeleton h={160} />
      ) : queues.data?.length === 0 ? (
        <Text c="dimmed" data-testid="no-queues">No task groups for you yet. Owners create them on a project's Tasks tab.</Text>
      ) : (
        <SimpleGrid cols={{ base: 1, sm: 2, lg: 3 }} data-testid="queues">
          {queues.data?.map((g) => {
            const open = g.counts.queued ?? 0;
            const mine = g.mine ?? 0;
            return (
              <Card key={g.id} withBorder padding="md" data-testid={`queue-${g.label}`}>
                <Group justify="space-between" align="flex-start">
                  <div>
                    <Text fw={600}>{g.label}</Text>
                    <Anchor component={Link} href={`/projects/${encodeURIComponent(g.projectId)}?tab=tasks`} size="xs" ff="monospace">{g.projectId}</Anchor>
                  </div>
                  {g.dueAt && <Badge variant="light" color="gray">due {new Date(g.dueAt).toLocaleDateString()}</Badge>}
                </Group>
                <Group gap="xs" mt="sm">
                  <Badge variant="light" data-testid="queue-open">{open} to do</Badge>
                  {mine > 0 && <Badge variant="light" color="blue">{mine} held by me</Badge>}
                  <Badge variant="light" color="teal">{(g.counts.done ?? 0) + (g.counts.submitted ?? 0)} done</Badge>
                </Group>
                <Group mt="md" justify="space-between">
                  {g.myLocked ? <Button size="xs" variant="default" component={Link} href={`/tasks/${g.myLocked}`}>Resume</Button> : <span />}
                  <Button size="xs" leftSection={<IconPlayerPlay size={14} />} disabled={open === 0 && !g.myLocked} loading={next.isPending && next.variables?.groupId === g.id} onClick={() => next.mutate({ projectId: g.projectId, groupId: g.id })}>
                    Start next
                  </Button>
                </Group>
              </Card>
            );
          })}
        </SimpleGrid>
      )}
      {queues.data && queues.data.some((g) => g.history.length > 0) && (
        <div>
          <Title order={4} mb="xs">My recent tasks</Title>
          <Table striped data-testid="my-history">
            <Table.Thead><Table.Tr><Table.Th>Task</Table.Th><Table.Th>Group</Table.Th><Table.Th>State</Table.Th><Table.Th>Updated</Table.Th></Table.Tr></Table.Thead>
            <Table.Tbody>
              {queues.data.flatMap((g) => g.history.map((h) => ({ ...h, group: g.label }))).sort((a, b) => +new Date(b.updatedAt) - +new Date(a.updatedAt)).slice(0, 20).map((h) => (
                <Table.Tr key={h.id}>
                  <Table.Td><Anchor component={Link} href={`/tasks/${h.id}`}>#{h.number}</Anchor></Table.Td>
                  <Table.Td>{h.group}</Table.Td>
                  <Table.Td><Badge size="sm" variant="light">{h.state.replace(/_/g, " ")}</Badge></Table.Td>
                  <Table.Td>{new Date(h.updatedAt).toLocaleString()}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </div>
      )}
    </Stack>
  );
}
