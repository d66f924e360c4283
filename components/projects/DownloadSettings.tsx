"use client";
// Owners: whether collaborators may download the project's files (members and owners always may).
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Card, Stack, Switch, Text, Title } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { useTRPC } from "@/components/trpc";
import { ErrorAlert } from "@/components/ui/ErrorAlert";

export function DownloadSettings({ projectId }: { projectId: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const overview = useQuery(trpc.browse.overview.queryOptions({ projectId }));
  const set = useMutation(
    trpc.browse.setCollaboratorDownload.mutationOptions({
      onSuccess: async (r) => {
        await queryClient.invalidateQueries({ queryKey: trpc.browse.overview.queryKey({ projectId }) });
        await queryClient.invalidateQueries({ queryKey: trpc.audit.list.queryKey() });
        if (r.changed) {
          notifications.show({ color: "teal", title: "Saved", message: r.allowCollaboratorDownload ? "Collaborators may now download." : "Collaborators may no longer download." });
        }
      },
    }),
  );
  return (
    <Card withBorder radius="md" padding="lg">
      <Stack gap="sm">
        <Title order={4}>Downloads</Title>
        <ErrorAlert error={overview.error ?? set.error} title="Could not change the download setting" />
        <Switch
          label="Collaborators may download"
          description="Members and owners can always download scans and experiments as zip files. Collaborators (and, on a public project, every signed-in user) can browse; with this on they can download too. Changes are recorded in the audit log."
          checked={overview.data?.allowCollaboratorDownload ?? false}
          disabled={!overview.data || set.isPending}
          onChange={(e) => set.mutate({ projectId, allowed: e.currentTarget.checked })}
        />
        {overview.data && <Text size="xs" c="dimmed">Project API tokens with the “read” scope can download regardless.</Text>}
      </Stack>
    </Card>
  );
}
