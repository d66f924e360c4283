"use client";
// Who may create projects (site admins decide, as XNAT offers): every signed-in user, or site
// administrators only. A project's owner decides where identifiable data goes (AE titles, tokens,
// webhooks, de-identification settings), hence the default. Changes are audited as site events.
import { useEffect, useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Alert, Badge, Button, Card, Group, Radio, Skeleton, Stack, Text, Title } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { IconInfoCircle } from "@tabler/icons-react";
import { useTRPC } from "@/components/trpc";
import { ErrorAlert } from "@/components/ui/ErrorAlert";

type Policy = "all" | "admins";

export function ProjectCreationSetting() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const current = useQuery(trpc.admin.projectCreation.queryOptions(undefined, { retry: false }));
  const [choice, setChoice] = useState<Policy | null>(null);
  useEffect(() => {
    if (current.data && choice === null) setChoice(current.data.policy);
  }, [current.data, choice]);
  const save = useMutation(
    trpc.admin.setProjectCreation.mutationOptions({
      onSuccess: async (r) => {
        notifications.show({
          color: "teal",
          title: "Saved",
          message: r.policy === "all" ? "Every signed-in user may now create projects." : "Only site administrators may now create projects.",
        });
        await queryClient.invalidateQueries({ queryKey: trpc.admin.projectCreation.queryKey() });
        await queryClient.invalidateQueries({ queryKey: trpc.project.creation.queryKey() });
      },
    }),
  );
  return (
    <Stack gap="lg" maw={820}>
      <div>
        <Title order={2}>Project creation</Title>
        <Text c="dimmed" size="sm">
          Who may create projects on this site. Whoever creates a project becomes its owner, and an owner decides where identifiable data goes:
          the AE titles, tokens and webhooks that send to the project and its de-identification settings.
        </Text>
      </div>
      <ErrorAlert error={current.error} title="Could not load the setting" onRetry={() => void current.refetch()} />
      <Card withBorder padding="xl" radius="md">
        {current.isPending || choice === null ? (
          <Skeleton h={120} />
        ) : (
          <form
            onSubmit={(e) => {
              e.preventDefault();
              save.mutate({ policy: choice });
            }}
          >
            <Stack>
              <Group gap="xs">
                <Text size="sm" fw={500}>In force:</Text>
                <Badge variant="light" color={current.data!.policy === "admins" ? "grape" : "blue"} data-testid="project-creation-policy">
                  {current.data!.policy === "admins" ? "site administrators only" : "every signed-in user"}
                </Badge>
                {current.data!.isDefault && <Badge variant="outline" color="gray">default</Badge>}
              </Group>
              <Radio.Group label="Who may create projects" value={choice} onChange={(v) => setChoice(v as Policy)}>
                <Stack gap="sm" mt="xs">
                  <Radio value="admins" label="Site administrators only (admins)" description="Others ask a site administrator, who creates the project and makes them its owner." />
                  <Radio value="all" label="Every signed-in user (all)" description="Anyone who signs in can create a project and becomes its owner." />
                </Stack>
              </Radio.Group>
              {current.data!.isDefault && (
                <Alert color="gray" icon={<IconInfoCircle size={18} />}>
                  Not chosen yet: the default applies — site administrators only while ATRIUM_ADMINS names someone, everyone on a site without
                  administrators (a fresh install), so that nobody is locked out.
                </Alert>
              )}
              <ErrorAlert error={save.error} title="Not saved" />
              <Group justify="flex-end">
                <Button type="submit" loading={save.isPending} disabled={choice === current.data!.policy && !current.data!.isDefault}>
                  Save
                </Button>
              </Group>
            </Stack>
          </form>
        )}
      </Card>
    </Stack>
  );
}
