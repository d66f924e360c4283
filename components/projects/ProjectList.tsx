"use client";
import { useMemo, useState } from "react";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useQuery } from "@tanstack/react-query";
import { useDebouncedValue } from "@mantine/hooks";
import { Button, Card, Group, SegmentedControl, Skeleton, Stack, Table, Text, TextInput, Title, Center, ThemeIcon } from "@mantine/core";
import { IconFolderPlus, IconSearch, IconFolders, IconUsers } from "@tabler/icons-react";
import { useTRPC } from "@/components/trpc";
import { AccessibilityBadge, RoleBadge } from "./labels";
import { ErrorAlert } from "@/components/ui/ErrorAlert";

/** "New project", or, when the site lets only site administrators create projects, the reason instead. */
function NewProjectButton() {
  const trpc = useTRPC();
  const creation = useQuery(trpc.project.creation.queryOptions());
  if (creation.data && !creation.data.allowed) {
    return (
      <Stack gap={4} align="flex-end" maw={380}>
        <Button leftSection={<IconFolderPlus size={18} />} disabled data-testid="new-project-disabled">
          New project
        </Button>
        <Text size="xs" c="dimmed" ta="right" data-testid="new-project-reason">{creation.data.reason}</Text>
      </Stack>
    );
  }
  return (
    <Button component={Link} href="/projects/new" leftSection={<IconFolderPlus size={18} />}>
      New project
    </Button>
  );
}

export function ProjectList() {
  const trpc = useTRPC();
  const router = useRouter();
  const [search, setSearch] = useState("");
  const [scope, setScope] = useState<"all" | "mine">("all");
  const [debounced] = useDebouncedValue(search, 250);
  const list = useQuery(trpc.project.list.queryOptions({ search: debounced || undefined }));
  const mayCreate = useQuery(trpc.project.creation.queryOptions()).data?.allowed !== false;
  const rows = useMemo(() => (list.data ?? []).filter((p) => scope === "all" || p.myRole), [list.data, scope]);

  return (
    <Stack gap="lg">
      <Group justify="space-between" align="flex-end">
        <div>
          <Title order={2}>Projects</Title>
          <Text c="dimmed" size="sm">Your projects, and the public and protected projects of your department.</Text>
        </div>
        <NewProjectButton />
      </Group>
      <Group>
        <TextInput
          placeholder="Search by id, name or description"
          leftSection={<IconSearch size={16} />}
          value={search}
          onChange={(e) => setSearch(e.currentTarget.value)}
          w={360}
          aria-label="Search projects"
        />
        <SegmentedControl
          value={scope}
          onChange={(v) => setScope(v as "all" | "mine")}
          data={[
            { label: "All visible", value: "all" },
            { label: "My projects", value: "mine" },
          ]}
        />
      </Group>
      <ErrorAlert error={list.error} title="Could not load projects" onRetry={() => void list.refetch()} />
      <Card withBorder padding={0} radius="md">
        {list.isPending ? (
          <Stack p="md">{[0, 1, 2].map((i) => <Skeleton key={i} h={28} />)}</Stack>
        ) : rows.length === 0 ? (
          <Center p="xl">
            <Stack align="center" gap="xs">
              <ThemeIcon size={48} radius="xl" variant="light"><IconFolders size={26} /></ThemeIcon>
              <Text fw={500}>{debounced ? "No project matches your search." : scope === "mine" ? "You are not a member of any project yet." : "No projects yet."}</Text>
              <Text size="sm" c="dimmed">{mayCreate ? "Create one, or ask a project owner to invite you." : "Ask a project owner to invite you, or a site administrator to create a project for you."}</Text>
            </Stack>
          </Center>
        ) : (
          <Table highlightOnHover verticalSpacing="sm" horizontalSpacing="md">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Project</Table.Th>
                <Table.Th>Accessibility</Table.Th>
                <Table.Th>Your role</Table.Th>
                <Table.Th ta="right">Members</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {rows.map((p) => (
                <Table.Tr key={p.id} style={{ cursor: "pointer" }} onClick={() => router.push(`/projects/${p.id}`)} data-testid={`project-row-${p.id}`}>
                  <Table.Td>
                    <Text fw={600} component={Link} href={`/projects/${p.id}`} style={{ textDecoration: "none", color: "inherit" }}>
                      {p.name}
                    </Text>
                    <Text size="xs" c="dimmed" ff="monospace">{p.id}</Text>
                    {p.description && <Text size="sm" c="dimmed" lineClamp={1} maw={560}>{p.description}</Text>}
                  </Table.Td>
                  <Table.Td><AccessibilityBadge value={p.accessibility} /></Table.Td>
                  <Table.Td><RoleBadge role={p.myRole} /></Table.Td>
                  <Table.Td ta="right">
                    <Group gap={4} justify="flex-end"><IconUsers size={14} /><Text size="sm">{p.memberCount}</Text></Group>
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
