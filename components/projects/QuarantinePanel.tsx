"use client";
// A project's Quarantine tab: members see what is held back and why; owners retry, route to
// another project they own, delete (with confirmation) and open the original header (audited).
import { useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { notifications } from "@mantine/notifications";
import { useTRPC, useTRPCClient } from "@/components/trpc";
import { QuarantineFilters, QuarantineTable, type QuarantineFilterState, type HeaderResult } from "@/components/intake/QuarantineTable";

export function QuarantinePanel({ projectId, isOwner }: { projectId: string; isOwner: boolean }) {
  const trpc = useTRPC();
  const client = useTRPCClient();
  const queryClient = useQueryClient();
  const [filter, setFilter] = useState<QuarantineFilterState>({});
  const list = useQuery(trpc.intake.quarantine.queryOptions({ projectId, ...filter, limit: 100 }, { refetchInterval: 5_000 }));
  const projects = useQuery({ ...trpc.project.list.queryOptions({}), enabled: isOwner });
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.intake.quarantine.queryKey() });
  const onError = (title: string) => (e: { message: string }) => notifications.show({ color: "red", title, message: e.message });
  const retry = useMutation(
    trpc.intake.retry.mutationOptions({
      onSuccess: async () => {
        notifications.show({ color: "teal", title: "Queued again", message: "The instance goes through de-identification in this project again." });
        await refresh();
      },
      onError: onError("Not retried"),
    }),
  );
  const route = useMutation(
    trpc.intake.routeToProject.mutationOptions({
      onSuccess: async (r) => {
        notifications.show({ color: "teal", title: "Routed", message: `The instance moved to ${r.projectId} and is being de-identified there.` });
        await refresh();
      },
      onError: onError("Not routed"),
    }),
  );
  const remove = useMutation(
    trpc.intake.deleteQuarantined.mutationOptions({
      onSuccess: async () => {
        notifications.show({ color: "teal", title: "Deleted", message: "The instance was deleted." });
        await refresh();
      },
      onError: onError("Not deleted"),
    }),
  );
  const targets = (projects.data ?? []).filter((p) => p.access === "owner" && p.id !== projectId).map((p) => ({ id: p.id, name: p.name }));
  return (
    <QuarantineTable
      title="Quarantine"
      items={list.data?.items ?? []}
      total={list.data?.total ?? 0}
      loading={list.isPending}
      error={list.error}
      emptyText={Object.keys(filter).some((k) => filter[k as keyof QuarantineFilterState]) ? "Nothing in quarantine matches these filters." : "Nothing in quarantine: every instance received was accepted."}
      filters={<QuarantineFilters value={filter} onChange={setFilter} codes={list.data?.reasonCodes ?? []} />}
      actions={
        isOwner
          ? {
              retry: { label: "Retry (accept into this project)", run: (instanceId) => retry.mutate({ projectId, instanceId }), pending: retry.isPending },
              routeTargets: targets,
              route: (instanceId, targetProjectId) => route.mutate({ projectId, instanceId, targetProjectId }),
              remove: (instanceId) => remove.mutate({ projectId, instanceId }),
              header: (instanceId) => client.intake.originalHeader.query({ projectId, instanceId }) as Promise<HeaderResult>,
            }
          : null
      }
    />
  );
}
