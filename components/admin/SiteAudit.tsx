"use client";
// The site audit log (site admins): every project's audit events and the site's own, newest first,
// filtered by action, project, actor and date. Who approved what, who opened original (identifying)
// headers of quarantined instances, and who changed site settings or site routing.
import { useState } from "react";
import Link from "next/link";
import { useInfiniteQuery, useQuery, useQueryClient } from "@tanstack/react-query";
import { useDebouncedValue } from "@mantine/hooks";
import { Anchor, Autocomplete, Badge, Button, Card, Chip, Group, Select, Skeleton, Stack, Table, Text, TextInput, Title } from "@mantine/core";
import { IconDownload, IconFilterOff } from "@tabler/icons-react";
import { useTRPC } from "@/components/trpc";
import { ErrorAlert } from "@/components/ui/ErrorAlert";
import { AuditChange } from "@/components/audit/AuditChange";
import { dayStart, exportAuditCsv, nextDay } from "@/components/audit/export";

const SITE = "__site__";

/** Quick filters (matched as parts of the action name). */
const AUDIT_PRESETS = [
  { label: "Original-header views", action: "intake.header.view" },
  { label: "Approvals", action: "approv" },
  { label: "Site settings", action: "site.settings" },
  { label: "Site routing", action: "site.routing" },
  { label: "Downloads", action: "archive.download" },
] as const;

function actionColor(action: string): string {
  if (action.includes("header.view")) return "red";
  if (action.includes("approv")) return "grape";
  if (action.startsWith("site.")) return "indigo";
  if (action.includes("delete") || action.includes("remove")) return "orange";
  if (action.includes("download")) return "cyan";
  return "gray";
}

export function SiteAudit() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [exporting, setExporting] = useState(false);
  const [action, setAction] = useState("");
  const [actor, setActor] = useState("");
  const [project, setProject] = useState<string | null>(null);
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const [debouncedAction] = useDebouncedValue(action, 300);
  const [debouncedActor] = useDebouncedValue(actor, 300);
  const projects = useQuery(trpc.project.list.queryOptions({}));
  const filter = {
    action: debouncedAction.trim() || undefined,
    actor: debouncedActor.trim() || undefined,
    projectId: project && project !== SITE ? project : undefined,
    siteOnly: project === SITE ? true : undefined,
    from: dayStart(from),
    to: nextDay(to),
    limit: 50,
  };
  const audit = useInfiniteQuery(
    trpc.admin.audit.infiniteQueryOptions(filter, { getNextPageParam: (last) => last.nextCursor ?? undefined, retry: false }),
  );
  const first = audit.data?.pages[0];
  const events = audit.data?.pages.flatMap((p) => p.events) ?? [];
  const clear = () => {
    setAction("");
    setActor("");
    setProject(null);
    setFrom("");
    setTo("");
  };

  return (
    <Stack gap="lg">
      <div>
        <Title order={2}>Site audit log</Title>
        <Text c="dimmed" size="sm">
          Every project&apos;s audit log and the site&apos;s own events, newest first: who approved what, who opened original (identifying)
          headers, who changed site settings and site routing. Only site administrators see this log.
        </Text>
      </div>
      <Card withBorder padding="md" radius="md">
        <Stack gap="sm">
          <Group gap="xs">
            <Text size="sm" fw={500}>Show:</Text>
            {AUDIT_PRESETS.map((p) => (
              <Chip key={p.action} size="xs" checked={action === p.action} onChange={(on) => setAction(on ? p.action : "")}>
                {p.label}
              </Chip>
            ))}
          </Group>
          <Group align="flex-end" gap="sm" wrap="wrap">
            <Autocomplete
              label="Action"
              placeholder="Any action (a part of its name)"
              w={260}
              value={action}
              onChange={setAction}
              data={(first?.actions ?? []).map((a) => a.action)}
            />
            <Select
              label="Project"
              placeholder="Every project and the site"
              searchable
              clearable
              w={260}
              value={project}
              onChange={setProject}
              data={[{ value: SITE, label: "Site events only (no project)" }, ...(projects.data ?? []).map((p) => ({ value: p.id, label: `${p.id} · ${p.name}` }))]}
            />
            <TextInput label="Actor" placeholder="e-mail or name; system" w={220} value={actor} onChange={(e) => setActor(e.currentTarget.value)} />
            <TextInput label="From" type="date" w={160} value={from} onChange={(e) => setFrom(e.currentTarget.value)} />
            <TextInput label="Until" type="date" w={160} value={to} onChange={(e) => setTo(e.currentTarget.value)} />
            <Button variant="subtle" color="gray" leftSection={<IconFilterOff size={16} />} onClick={clear}>
              Clear filters
            </Button>
            <Button
              ml="auto"
              variant="default"
              leftSection={<IconDownload size={16} />}
              loading={exporting}
              disabled={!first?.total}
              onClick={() => {
                setExporting(true);
                void exportAuditCsv((cursor) => queryClient.fetchQuery(trpc.admin.audit.queryOptions({ ...filter, limit: 500, cursor })), `atrium-site-audit-${new Date().toISOString().slice(0, 10)}.csv`).finally(() => setExporting(false));
              }}
            >
              Export CSV
            </Button>
          </Group>
        </Stack>
      </Card>
      <ErrorAlert error={audit.error} title="Could not load the audit log" onRetry={() => void audit.refetch()} />
      <Card withBorder padding={0} radius="md">
        <Group justify="space-between" p="md" pb="xs">
          <Text size="sm" c="dimmed" data-testid="site-audit-total">
            {first ? `${first.total} event${first.total === 1 ? "" : "s"}${events.length < first.total ? `, showing the newest ${events.length}` : ""}` : " "}
          </Text>
        </Group>
        {audit.isPending ? (
          <Stack p="md">{[0, 1, 2].map((i) => <Skeleton key={i} h={28} />)}</Stack>
        ) : events.length === 0 ? (
          <Text p="md" pt={0} size="sm" c="dimmed">No event matches these filters.</Text>
        ) : (
          <Table verticalSpacing="sm" horizontalSpacing="md" striped data-testid="site-audit-table">
            <Table.Thead>
              <Table.Tr>
                <Table.Th w={170}>When</Table.Th>
                <Table.Th>Where</Table.Th>
                <Table.Th>Who</Table.Th>
                <Table.Th>What</Table.Th>
                <Table.Th>Target</Table.Th>
                <Table.Th>Before</Table.Th>
                <Table.Th>After</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {events.map((e) => (
                <Table.Tr key={e.id}>
                  <Table.Td><Text size="sm">{new Date(e.at).toLocaleString()}</Text></Table.Td>
                  <Table.Td>
                    {e.projectId ? (
                      <Anchor component={Link} href={`/projects/${e.projectId}?tab=audit`} size="sm" ff="monospace">{e.projectId}</Anchor>
                    ) : (
                      <Badge variant="outline" color="indigo" size="sm">site</Badge>
                    )}
                  </Table.Td>
                  <Table.Td><Text size="sm">{e.actor}</Text>{e.actorEmail && <Text size="xs" c="dimmed">{e.actorEmail}</Text>}</Table.Td>
                  <Table.Td><Text size="sm" ff="monospace" fw={600} c={actionColor(e.action) === "gray" ? undefined : `${actionColor(e.action)}.7`} style={{ whiteSpace: "nowrap" }}>{e.action}</Text></Table.Td>
                  <Table.Td>
                    {e.targetType && <Text size="xs" c="dimmed">{e.targetType}</Text>}
                    {e.targetId && <Text size="xs" ff="monospace" style={{ wordBreak: "break-all" }}>{e.targetId}</Text>}
                  </Table.Td>
                  <Table.Td><AuditChange value={e.before} /></Table.Td>
                  <Table.Td><AuditChange value={e.after} /></Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        )}
        {audit.hasNextPage && (
          <Group justify="center" p="md">
            <Button variant="default" loading={audit.isFetchingNextPage} onClick={() => void audit.fetchNextPage()}>Load older events</Button>
          </Group>
        )}
      </Card>
    </Stack>
  );
}
