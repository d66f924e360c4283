"use client";
// A project's audit log (owners): newest first, filtered by action, actor and dates, paged by
// cursor ("load older"), with long values wrapped and expandable, and a CSV export of every event
// the filters match.
import { useState } from "react";
import { useInfiniteQuery, useQueryClient } from "@tanstack/react-query";
import { useDebouncedValue } from "@mantine/hooks";
import { Badge, Button, Card, Group, Select, Skeleton, Stack, Table, Text, TextInput } from "@mantine/core";
import { IconDownload, IconFilterOff } from "@tabler/icons-react";
import { useTRPC } from "@/components/trpc";
import { ErrorAlert } from "@/components/ui/ErrorAlert";
import { AuditChange } from "@/components/audit/AuditChange";
import { dayStart, exportAuditCsv, nextDay } from "@/components/audit/export";

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

export function AuditPanel({ projectId }: { projectId: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [action, setAction] = useState<string | null>(null);
  const [actor, setActor] = useState("");
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const [debouncedActor] = useDebouncedValue(actor, 300);
  const [exporting, setExporting] = useState<number | null>(null);
  const [exportError, setExportError] = useState<{ message: string } | null>(null);
  const filter = { projectId, action: action ?? undefined, actor: debouncedActor.trim() || undefined, from: dayStart(from), to: nextDay(to) };
  const audit = useInfiniteQuery(
    trpc.audit.list.infiniteQueryOptions({ ...filter, limit: 50 }, { getNextPageParam: (last) => last.nextCursor ?? undefined, refetchInterval: 15_000, retry: false }),
  );
  const first = audit.data?.pages[0];
  const events = audit.data?.pages.flatMap((p) => p.events) ?? [];
  const filtered = Boolean(action || actor || from || to);
  const exportCsv = async () => {
    setExportError(null);
    setExporting(0);
    try {
      await exportAuditCsv(
        (cursor) => queryClient.fetchQuery(trpc.audit.list.queryOptions({ ...filter, limit: 500, cursor })),
        `atrium-audit-${projectId}-${new Date().toISOString().slice(0, 10)}.csv`,
        setExporting,
      );
    } catch (e) {
      setExportError(e as Error);
    } finally {
      setExporting(null);
    }
  };
  return (
    <Stack>
      <Card withBorder padding="md" radius="md">
        <Group align="flex-end" gap="sm" wrap="wrap">
          <Select
            label="Action"
            placeholder="Any action"
            w={240}
            searchable
            clearable
            value={action}
            onChange={setAction}
            data={(first?.actions ?? []).map((a) => ({ value: a.action, label: `${a.action} (${a.count})` }))}
          />
          <TextInput label="Who" placeholder="e-mail or name; system" w={220} value={actor} onChange={(e) => setActor(e.currentTarget.value)} />
          <TextInput label="From" type="date" w={160} value={from} onChange={(e) => setFrom(e.currentTarget.value)} />
          <TextInput label="Until" type="date" w={160} value={to} onChange={(e) => setTo(e.currentTarget.value)} />
          {filtered && (
            <Button variant="subtle" color="gray" leftSection={<IconFilterOff size={16} />} onClick={() => { setAction(null); setActor(""); setFrom(""); setTo(""); }}>
              Clear filters
            </Button>
          )}
          <Button ml="auto" variant="default" leftSection={<IconDownload size={16} />} loading={exporting !== null} onClick={() => void exportCsv()} disabled={!first?.total}>
            Export CSV
          </Button>
        </Group>
        {exporting !== null && <Text size="xs" c="dimmed" mt={6}>Exporting… {exporting.toLocaleString()} events so far</Text>}
      </Card>
      <ErrorAlert error={exportError} title="Could not export the audit log" />
      <ErrorAlert error={audit.error} title="Could not load the audit log" onRetry={() => void audit.refetch()} />
      <Card withBorder padding={0} radius="md">
        <Text size="sm" c="dimmed" p="md" pb="xs" data-testid="audit-total">
          {first ? `${first.total.toLocaleString()} event${first.total === 1 ? "" : "s"}${filtered ? " match these filters" : ""}${events.length < first.total ? `, showing the newest ${events.length.toLocaleString()}` : ""}` : " "}
        </Text>
        {audit.isPending ? (
          <Stack p="md">{[0, 1, 2].map((i) => <Skeleton key={i} h={28} />)}</Stack>
        ) : (
          <Table verticalSpacing="sm" horizontalSpacing="md" striped layout="fixed" data-testid="audit-table">
            <Table.Thead>
              <Table.Tr>
                <Table.Th w={170}>When</Table.Th>
                <Table.Th w={190}>Who</Table.Th>
                <Table.Th w={180}>What</Table.Th>
                <Table.Th>Before</Table.Th>
                <Table.Th>After</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {events.map((e) => (
                <Table.Tr key={e.id} style={{ verticalAlign: "top" }}>
                  <Table.Td><Text size="sm">{new Date(e.at).toLocaleString()}</Text></Table.Td>
                  <Table.Td style={{ overflowWrap: "anywhere" }}><Text size="sm">{e.actor}</Text>{e.actorEmail && <Text size="xs" c="dimmed">{e.actorEmail}</Text>}</Table.Td>
                  <Table.Td>
                    <Badge variant="light" color={actionColor[e.action] ?? "gray"} style={{ textTransform: "none", maxWidth: "100%" }}>{e.action}</Badge>
                    {e.targetId && <Text size="xs" c="dimmed" mt={4} style={{ overflowWrap: "anywhere" }}>{e.targetType} {e.targetId}</Text>}
                  </Table.Td>
                  <Table.Td><AuditChange value={e.before} /></Table.Td>
                  <Table.Td><AuditChange value={e.after} /></Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        )}
        {events.length === 0 && !audit.isPending && <Text p="md" c="dimmed">{filtered ? "No event matches these filters." : "No changes recorded yet."}</Text>}
      </Card>
      {audit.hasNextPage && (
        <Group justify="center">
          <Button variant="default" loading={audit.isFetchingNextPage} onClick={() => void audit.fetchNextPage()}>Load older entries</Button>
        </Group>
      )}
    </Stack>
  );
}
