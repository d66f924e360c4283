"use client";
// Site routing (site admins): which projects take part in routing what scanners send to the site AE
// title, and in what order. Rules of projects not listed as enabled are never consulted for site
// traffic. Every change is audited as a site event and in the project's log.
import Link from "next/link";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { ActionIcon, Alert, Anchor, Badge, Button, Card, Code, Group, Skeleton, Stack, Table, Text, Title, Tooltip } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { IconArrowDown, IconArrowUp, IconInfoCircle, IconPlayerPause, IconPlus } from "@tabler/icons-react";
import { useTRPC } from "@/components/trpc";
import { ErrorAlert } from "@/components/ui/ErrorAlert";

/** The project's enabled rules (what site traffic would be matched against), then a link to all of them. */
function Rules({ enabled, total, projectId, rules }: { enabled: number; total: number; projectId: string; rules: string[] }) {
  return (
    <Stack gap={4}>
      {rules.slice(0, 3).map((r, i) => (
        <Code key={i} style={{ whiteSpace: "pre-wrap", wordBreak: "break-all" }}>{r}</Code>
      ))}
      <Anchor component={Link} href={`/projects/${projectId}?tab=intake`} size="xs">
        {rules.length > 3 ? `and ${rules.length - 3} more · ` : ""}
        {enabled} enabled rule{enabled === 1 ? "" : "s"}
        {total > enabled ? `, ${total - enabled} disabled` : ""}
      </Anchor>
    </Stack>
  );
}

export function SiteRouting() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const list = useQuery(trpc.admin.siteRouting.queryOptions(undefined, { retry: false }));
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.admin.siteRouting.queryKey() });
  const onError = (title: string) => (e: { message: string }) => notifications.show({ color: "red", title, message: e.message });
  const set = useMutation(
    trpc.admin.setSiteRouting.mutationOptions({
      onSuccess: async (_r, v) => {
        notifications.show({
          color: "teal",
          title: v.enabled ? "Enabled for site routing" : "Disabled for site routing",
          message: v.enabled ? `${v.projectId} now receives site traffic its rules match (last in the order).` : `${v.projectId}'s rules are no longer consulted for site traffic.`,
        });
        await refresh();
      },
      onError: onError("Not changed"),
    }),
  );
  const reorder = useMutation(trpc.admin.reorderSiteRouting.mutationOptions({ onSuccess: refresh, onError: onError("Order not changed") }));
  const enabled = list.data?.enabled ?? [];
  const others = list.data?.others ?? [];
  const move = (i: number, by: -1 | 1) => {
    const ids = enabled.map((p) => p.projectId);
    [ids[i], ids[i + by]] = [ids[i + by]!, ids[i]!];
    reorder.mutate({ projectIds: ids });
  };
  const busy = set.isPending || reorder.isPending;

  return (
    <Stack gap="lg">
      <div>
        <Title order={2}>Site routing</Title>
        <Text c="dimmed" size="sm">
          What scanners send to the site AE title <Code>{list.data?.siteAeTitle ?? "…"}</Code> goes to the first project below one of whose enabled
          routing rules matches it. Rules of projects that are not enabled here are never consulted for site traffic, whatever they say; what
          matches nothing waits in the <Anchor component={Link} href="/admin/quarantine">unrouted quarantine</Anchor>. Owners edit their rules in
          their project&apos;s Intake tab. Every change here is recorded in the site audit log and in the project&apos;s.
        </Text>
      </div>
      <ErrorAlert error={list.error} title="Could not load the site routing" onRetry={() => void list.refetch()} />
      <Card withBorder padding={0} radius="md">
        <Group justify="space-between" p="md" pb="xs">
          <Title order={4}>Enabled, in routing order</Title>
          <Badge variant="light">{enabled.length} project{enabled.length === 1 ? "" : "s"}</Badge>
        </Group>
        {list.isPending ? (
          <Stack p="md">{[0, 1].map((i) => <Skeleton key={i} h={28} />)}</Stack>
        ) : enabled.length === 0 ? (
          <Alert m="md" mt={0} color="gray" icon={<IconInfoCircle size={18} />} title="No project takes part in site routing">
            Everything sent to the site AE title waits in the unrouted quarantine. Enable a project below to let its rules route site traffic to it.
          </Alert>
        ) : (
          <Table verticalSpacing="sm" horizontalSpacing="md" data-testid="site-routing-enabled">
            <Table.Thead>
              <Table.Tr>
                <Table.Th w={70}>Order</Table.Th>
                <Table.Th>Project</Table.Th>
                <Table.Th>Rules</Table.Th>
                <Table.Th>Enabled since</Table.Th>
                <Table.Th ta="right">Actions</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {enabled.map((p, i) => (
                <Table.Tr key={p.projectId} data-testid={`site-routing-row-${p.projectId}`}>
                  <Table.Td><Badge variant="filled" color="indigo" circle>{p.position}</Badge></Table.Td>
                  <Table.Td>
                    <Text fw={600} size="sm">{p.name}</Text>
                    <Text size="xs" c="dimmed" ff="monospace">{p.projectId}</Text>
                  </Table.Td>
                  <Table.Td>
                    <Rules enabled={p.enabledRules} total={p.totalRules} projectId={p.projectId} rules={p.rules} />
                    {p.enabledRules === 0 && <Text size="xs" c="orange">No enabled rule: receives nothing until its owners add one.</Text>}
                  </Table.Td>
                  <Table.Td><Text size="sm">{new Date(p.enabledAt).toLocaleString()}</Text></Table.Td>
                  <Table.Td>
                    <Group gap={4} justify="flex-end" wrap="nowrap">
                      <Tooltip label="Try earlier">
                        <ActionIcon variant="subtle" aria-label={`Move ${p.projectId} up`} disabled={i === 0 || busy} onClick={() => move(i, -1)}><IconArrowUp size={16} /></ActionIcon>
                      </Tooltip>
                      <Tooltip label="Try later">
                        <ActionIcon variant="subtle" aria-label={`Move ${p.projectId} down`} disabled={i === enabled.length - 1 || busy} onClick={() => move(i, 1)}><IconArrowDown size={16} /></ActionIcon>
                      </Tooltip>
                      <Button size="xs" variant="light" color="red" leftSection={<IconPlayerPause size={14} />} disabled={busy} onClick={() => set.mutate({ projectId: p.projectId, enabled: false })}>
                        Disable
                      </Button>
                    </Group>
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        )}
      </Card>
      <Card withBorder padding={0} radius="md">
        <Group justify="space-between" p="md" pb="xs">
          <Title order={4}>Not taking part</Title>
          <Text size="xs" c="dimmed">These projects receive only what is sent to their own AE titles, tokens, webhooks and uploads.</Text>
        </Group>
        {!list.isPending && others.length === 0 ? (
          <Text p="md" pt={0} size="sm" c="dimmed">Every project takes part.</Text>
        ) : (
          <Table verticalSpacing="sm" horizontalSpacing="md" data-testid="site-routing-others">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Project</Table.Th>
                <Table.Th>Rules</Table.Th>
                <Table.Th ta="right">Actions</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {others.map((p) => (
                <Table.Tr key={p.projectId} data-testid={`site-routing-row-${p.projectId}`}>
                  <Table.Td>
                    <Text fw={600} size="sm">{p.name}</Text>
                    <Text size="xs" c="dimmed" ff="monospace">{p.projectId}</Text>
                  </Table.Td>
                  <Table.Td><Rules enabled={p.enabledRules} total={p.totalRules} projectId={p.projectId} rules={p.rules} /></Table.Td>
                  <Table.Td>
                    <Group justify="flex-end">
                      <Button size="xs" variant="light" leftSection={<IconPlus size={14} />} disabled={busy} onClick={() => set.mutate({ projectId: p.projectId, enabled: true })}>
                        Enable
                      </Button>
                    </Group>
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        )}
      </Card>
    </Stack>
  );
}
