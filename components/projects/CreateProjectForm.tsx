"use client";
import { useState } from "react";
import { useRouter } from "next/navigation";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Anchor, Breadcrumbs, Button, Card, Group, Radio, Stack, Text, TextInput, Textarea, Title } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { useTRPC } from "@/components/trpc";
import { accessibilityInfo } from "./labels";
import { ErrorAlert } from "@/components/ui/ErrorAlert";
import Link from "next/link";

type Accessibility = keyof typeof accessibilityInfo;

export function CreateProjectForm() {
  const trpc = useTRPC();
  const router = useRouter();
  const queryClient = useQueryClient();
  const [form, setForm] = useState({ id: "", name: "", description: "", accessibility: "private" as Accessibility });
  const create = useMutation(
    trpc.project.create.mutationOptions({
      onSuccess: async ({ id }) => {
        await queryClient.invalidateQueries({ queryKey: trpc.project.list.queryKey() });
        notifications.show({ color: "teal", title: "Project created", message: `${id} is ready. Invite its members next.` });
        router.push(`/projects/${id}?tab=members`);
      },
    }),
  );
  const creation = useQuery(trpc.project.creation.queryOptions());
  const refused = creation.data && !creation.data.allowed ? creation.data.reason : null;
  const fieldError = (field: string) => create.error?.data?.fieldErrors?.find((f) => f.path === field)?.message;
  const conflict = create.error?.data?.code === "CONFLICT" ? create.error.message : undefined;
  const otherError = create.error && !create.error.data?.fieldErrors?.length && !conflict ? create.error : null;

  return (
    <Stack gap="lg" maw={720}>
      <Breadcrumbs>
        <Anchor component={Link} href="/projects">Projects</Anchor>
        <Text>New project</Text>
      </Breadcrumbs>
      <div>
        <Title order={2}>New project</Title>
        <Text c="dimmed" size="sm">You become its owner. The id cannot be changed later.</Text>
      </div>
      <ErrorAlert error={refused ? { message: refused } : null} title="You cannot create projects on this site" />
      <Card withBorder padding="xl" radius="md">
        <form
          onSubmit={(e) => {
            e.preventDefault();
            create.mutate(form);
          }}
        >
          <Stack>
            <ErrorAlert error={otherError} title="Could not create the project" />
            <TextInput
              label="Project id"
              description="2–32 characters: letters, digits, _ and -, starting with a letter. Used in archive paths and AE routing."
              placeholder="BRAIN_MRI_2026"
              required
              value={form.id}
              onChange={(e) => setForm({ ...form, id: e.currentTarget.value })}
              error={fieldError("id") ?? conflict}
              styles={{ input: { fontFamily: "var(--mantine-font-family-monospace)" } }}
            />
            <TextInput
              label="Name"
              placeholder="Brain MRI cohort 2026"
              required
              value={form.name}
              onChange={(e) => setForm({ ...form, name: e.currentTarget.value })}
              error={fieldError("name")}
            />
            <Textarea
              label="Description"
              autosize
              minRows={3}
              value={form.description}
              onChange={(e) => setForm({ ...form, description: e.currentTarget.value })}
              error={fieldError("description")}
            />
            <Radio.Group
              label="Accessibility"
              value={form.accessibility}
              onChange={(v) => setForm({ ...form, accessibility: v as Accessibility })}
            >
              <Stack gap="xs" mt="xs">
                {(Object.keys(accessibilityInfo) as Accessibility[]).map((a) => (
                  <Radio key={a} value={a} label={accessibilityInfo[a].label} description={accessibilityInfo[a].help} />
                ))}
              </Stack>
            </Radio.Group>
            <Group justify="flex-end" mt="md">
              <Button variant="default" component={Link} href="/projects">Cancel</Button>
              <Button type="submit" loading={create.isPending} disabled={Boolean(refused)}>Create project</Button>
            </Group>
          </Stack>
        </form>
      </Card>
    </Stack>
  );
}
