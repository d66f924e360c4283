"use client";
import { useState } from "react";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Button, Card, Group, Radio, SimpleGrid, Stack, Text, TextInput, Textarea, Title } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { useTRPC } from "@/components/trpc";
import type { RouterOutputs } from "@/components/types";
import { ErrorAlert } from "@/components/ui/ErrorAlert";
import { accessibilityInfo } from "./labels";
import { DownloadSettings } from "./DownloadSettings";

type Project = RouterOutputs["project"]["get"];
type Accessibility = Project["accessibility"];

function Fact({ label, children }: { label: string; children: React.ReactNode }) {
  return (
    <div>
      <Text size="xs" tt="uppercase" fw={600} c="dimmed">{label}</Text>
      <Text size="sm" mt={2}>{children}</Text>
    </div>
  );
}

export function ProjectOverview({ project }: { project: Project }) {
  const isOwner = project.access === "owner";
  return (
    <Stack gap="lg">
      <Card withBorder radius="md" padding="lg">
        <Stack gap="md">
          <Text style={{ whiteSpace: "pre-wrap" }} c={project.description ? undefined : "dimmed"}>
            {project.description || "No description yet."}
          </Text>
          <SimpleGrid cols={{ base: 2, sm: 4 }}>
            <Fact label="Accessibility">{accessibilityInfo[project.accessibility].help}</Fact>
            <Fact label="Members">{project.memberCount}</Fact>
            <Fact label="Created">{new Date(project.createdAt).toLocaleDateString()}</Fact>
            <Fact label="Last changed">{new Date(project.updatedAt).toLocaleString()}</Fact>
          </SimpleGrid>
        </Stack>
      </Card>
      {isOwner && <ProjectSettings project={project} />}
      {isOwner && <DownloadSettings projectId={project.id} />}
    </Stack>
  );
}

function ProjectSettings({ project }: { project: Project }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [form, setForm] = useState({ name: project.name, description: project.description, accessibility: project.accessibility as Accessibility });
  const update = useMutation(
    trpc.project.update.mutationOptions({
      onSuccess: async (r) => {
        await queryClient.invalidateQueries({ queryKey: trpc.project.get.queryKey({ projectId: project.id }) });
        await queryClient.invalidateQueries({ queryKey: trpc.audit.list.queryKey() });
        notifications.show({ color: "teal", title: "Saved", message: r.changed.length ? `Changed: ${r.changed.join(", ")}` : "Nothing changed." });
      },
    }),
  );
  const fieldError = (f: string) => update.error?.data?.fieldErrors?.find((e) => e.path === f)?.message;
  return (
    <Card withBorder radius="md" padding="lg">
      <form onSubmit={(e) => { e.preventDefault(); update.mutate({ projectId: project.id, ...form }); }}>
        <Stack>
          <Title order={4}>Settings</Title>
          <ErrorAlert error={update.error && !update.error.data?.fieldErrors?.length ? update.error : null} title="Could not save" />
          <TextInput label="Name" value={form.name} onChange={(e) => setForm({ ...form, name: e.currentTarget.value })} error={fieldError("name")} />
          <Textarea label="Description" autosize minRows={2} value={form.description} onChange={(e) => setForm({ ...form, description: e.currentTarget.value })} error={fieldError("description")} />
          <Radio.Group label="Accessibility" value={form.accessibility} onChange={(v) => setForm({ ...form, accessibility: v as Accessibility })}>
            <Group mt="xs">
              {(Object.keys(accessibilityInfo) as Accessibility[]).map((a) => (
                <Radio key={a} value={a} label={accessibilityInfo[a].label} />
              ))}
            </Group>
          </Radio.Group>
          <Group justify="flex-end"><Button type="submit" loading={update.isPending}>Save changes</Button></Group>
        </Stack>
      </form>
    </Card>
  );
}
