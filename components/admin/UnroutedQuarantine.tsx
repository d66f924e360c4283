"use client";
// The site admins' view of instances no project accepted (sent to the site AE title and matched no
// routing rule, or whose route went away): re-run the rules, route to a project, delete, and open
// the original header (audited).
import { useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Stack, Text, Title } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { useTRPC, useTRPCClient } from "@/components/trpc";
import { QuarantineFilters, QuarantineTable, type QuarantineFilterState, type HeaderResult } from "@/components/intake/QuarantineTable";

export function UnroutedQuarantine() {
  const trpc = useTRPC();
  const client = useTRPCClient();
  const queryClient = useQueryClient();
  const [filter, setFilter] = useState<QuarantineFilterState>({});
  const list = useQuery(trpc.admin.unrouted.queryOptions({ ...filter, limit: 100 }, { refetchInterval: 5_000, retry: false }));
  const projects = useQuery(trpc.project.list.queryOptions({}));
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.admin.unrouted.queryKey() });
  const onError = (title: string) => (e: { message: string }) => notifications.show({ color: "red", title, message: e.message });
  const reroute = useMutation(
    trpc.admin.rerouteUnrouted.mutationOptions({
      onSuccess: async (r) => {
        notifications.show(
          r.routed
            ? { color: "teal", title: "Routed", message: `A rule of ${r.projectId} matches now; the instance is being de-identified there.` }
            : { color: "yellow", title: "Still no match", message: r.reason },
        );
        await refresh();
      },
      onError: onError("Not re-routed"),
    }),
  );
  const route = useMutation(
    trpc.admin.routeUnrouted.mutationOptions({
      onSuccess: async (r) => {
        notifications.show({ color: "teal", title: "Routed", message: `The instance moved to ${r.projectId} and is being de-identified there.` });
        await refresh();
      },
      onError: onError("Not routed"),
    }),
  );
  const remove = useMutation(trpc.admin.deleteUnrouted.mutationOptions({ onSuccess: refresh, onError: onError("Not deleted") }));
  return (
    <Stack gap="lg">
      <div>
        <Title order={2}>Unrouted quarantine</Title>
        <Text c="dimmed" size="sm">Instances no project accepted: sent to the site AE title without matching any project&apos;s routing rules, or whose route went away. Only site administrators see this list.</Text>
      </div>
      <QuarantineTable
        title="Not routed to any project"
        items={list.data?.items ?? []}
        total={list.data?.total ?? 0}
        loading={list.isPending}
        error={list.error}
        emptyText="Nothing waits here: every instance found a project."
        filters={<QuarantineFilters value={filter} onChange={setFilter} codes={list.data?.reasonCodes ?? []} />}
        actions={{
          retry: { label: "Run the routing rules again", run: (instanceId) => reroute.mutate({ instanceId }), pending: reroute.isPending },
          routeTargets: (projects.data ?? []).map((p) => ({ id: p.id, name: p.name })),
          route: (instanceId, targetProjectId) => route.mutate({ instanceId, targetProjectId }),
          remove: (instanceId) => remove.mutate({ instanceId }),
          header: (instanceId) => client.admin.unroutedHeader.query({ instanceId }) as Promise<HeaderResult>,
        }}
      />
    </Stack>
  );
}
