"use client";
// A project's Quarantine tab: members see what is held back and why; owners retry, route to
// another project they own, delete (with confirmation) and open the original header (audited).
import { useState } from "react";
import { Button, Menu, Text } from "@mantine/core";
import { IconArrowForwardUp, IconRefresh, IconRoute, IconTrash } from "@tabler/icons-react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { notifications } from "@mantine/notifications";
import { useTRPC, useTRPCClient } from "@/components/trpc";
import { QuarantineFilters, QuarantineTable, type QuarantineFilterState, type HeaderResult } from "@/components/intake/QuarantineTable";
import { BulkRunModal, SelectionBar, type BulkAction } from "@/components/ui/BulkRun";
import {
  emptySelection, isSelected, pageState, selectedCount, selectionProblem, selectMatching, toggle, togglePage, toSelection, type RowSelection,
} from "@/lib/portal/selection";
import { firstQuarantinePage, QUARANTINE_PAGE } from "./first-pages";

const PAGE = QUARANTINE_PAGE;
const NOUN: [string, string] = ["instance", "instances"];
const num = (x: number) => x.toLocaleString("en");

export function QuarantinePanel({ projectId, isOwner }: { projectId: string; isOwner: boolean }) {
  const trpc = useTRPC();
  const client = useTRPCClient();
  const queryClient = useQueryClient();
  const [filter, setFilterState] = useState<QuarantineFilterState>({});
  const [sort, setSortState] = useState<"newest" | "oldest" | "largest">("newest");
  // Cursors of the pages seen so far: the server pages (cursor = last row's id).
  const [cursors, setCursors] = useState<string[]>([]);
  // The rows ticked for a bulk action: by id across pages, or every row matching the filters.
  const [sel, setSel] = useState<RowSelection<QuarantineFilterState>>(emptySelection());
  const [bulk, setBulk] = useState<BulkAction | null>(null);
  const setFilter = (f: QuarantineFilterState) => { setFilterState(f); setCursors([]); setSel(emptySelection()); };
  const setSort = (v: typeof sort) => { setSortState(v); setCursors([]); };
  const cursor = cursors[cursors.length - 1];
  const list = useQuery(trpc.intake.quarantine.queryOptions({ ...firstQuarantinePage(projectId), ...filter, sort, ...(cursor ? { cursor } : {}) }, { refetchInterval: bulk ? false : 5_000 }));
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
  const pageIds = (list.data?.items ?? []).map((q) => q.id);
  const count = selectedCount(sel);
  const problem = selectionProblem(sel);
  const scope = sel.kind === "matching" ? "every instance matching the filters (received until the list was loaded)" : "the instances you ticked";
  const bulkAction = (action: "retry" | "route" | "delete", target?: { id: string; name: string }): BulkAction => {
    const selection = toSelection(sel);
    const call = () => client.intake.quarantineBulk.mutate({ projectId, action, selection, ...(target ? { targetProjectId: target.id } : {}) });
    const many = `${num(count)} ${count === 1 ? NOUN[0] : NOUN[1]}`;
    if (action === "retry") {
      return {
        title: `Retry ${many}?`, confirmLabel: `Retry ${many}`, expected: count, call, pastTense: "queued again", noun: NOUN,
        what: `${num(count)} quarantined ${count === 1 ? "instance goes" : "instances go"} through this project's de-identification again (${scope}), with the project's current settings; those that still fail come back to quarantine with their reason. Each retry is recorded in the audit log.`,
      };
    }
    if (action === "route") {
      return {
        title: `Route ${many} to ${target!.id}?`, confirmLabel: `Route to ${target!.id}`, expected: count, call, pastTense: `moved to ${target!.id}`, noun: NOUN,
        what: `${num(count)} ${count === 1 ? "instance leaves" : "instances leave"} this project's quarantine (${scope}) and ${count === 1 ? "is" : "are"} de-identified in ${target!.id} (${target!.name}) with that project's settings. Both projects' audit logs record the move.`,
      };
    }
    return {
      title: `Delete ${many} for good?`, confirmLabel: `Delete ${many}`, color: "red", expected: count, call, pastTense: "deleted", noun: NOUN,
      what: `${num(count)} received ${count === 1 ? "file is" : "files are"} deleted for good (${scope}) and cannot be retried or routed afterwards. The audit log keeps that you deleted ${count === 1 ? "it" : "them"}.`,
    };
  };
  const bar = isOwner ? (
    <SelectionBar
      count={count}
      pageCount={pageIds.length}
      matchingTotal={list.data?.total ?? 0}
      allMatching={sel.kind === "matching"}
      onSelectMatching={() => list.data && setSel(selectMatching(filter, new Date(list.data.asOf), list.data.total))}
      onClear={() => setSel(emptySelection())}
      noun={NOUN}
      problem={problem}
    >
      <Button size="xs" leftSection={<IconRefresh size={14} />} disabled={Boolean(problem)} onClick={() => setBulk(bulkAction("retry"))}>Retry</Button>
      <Menu position="bottom-end" withinPortal>
        <Menu.Target>
          <Button size="xs" variant="default" leftSection={<IconRoute size={14} />} disabled={Boolean(problem)}>Route to project</Button>
        </Menu.Target>
        <Menu.Dropdown>
          <Menu.Label>Route the selection to</Menu.Label>
          {targets.length === 0 && <Menu.Item disabled>No other project you own</Menu.Item>}
          {targets.map((p) => (
            <Menu.Item key={p.id} leftSection={<IconArrowForwardUp size={14} />} onClick={() => setBulk(bulkAction("route", p))}>
              {p.id} <Text span size="xs" c="dimmed">{p.name}</Text>
            </Menu.Item>
          ))}
        </Menu.Dropdown>
      </Menu>
      <Button size="xs" color="red" variant="light" leftSection={<IconTrash size={14} />} disabled={Boolean(problem)} onClick={() => setBulk(bulkAction("delete"))}>Delete</Button>
    </SelectionBar>
  ) : null;
  return (
    <>
    <BulkRunModal
      action={bulk}
      onClose={() => setBulk(null)}
      onFinished={async (p) => {
        if (p.state === "finished") setSel(emptySelection());
        setCursors([]);
        await refresh();
      }}
    />
    <QuarantineTable
      title="Quarantine"
      items={list.data?.items ?? []}
      total={list.data?.total ?? 0}
      select={
        isOwner
          ? {
              isSelected: (id) => isSelected(sel, id),
              toggle: (id) => setSel(toggle(sel, id)),
              pageState: pageState(sel, pageIds),
              togglePage: (on) => setSel(togglePage(sel, pageIds, on)),
              bar,
            }
          : undefined
      }
      page={{ index: cursors.length, next: list.data?.nextCursor ? () => setCursors([...cursors, list.data!.nextCursor!]) : undefined, prev: cursors.length ? () => setCursors(cursors.slice(0, -1)) : undefined }}
      loading={list.isPending}
      error={list.error}
      emptyText={Object.keys(filter).some((k) => filter[k as keyof QuarantineFilterState]) ? "Nothing in quarantine matches these filters." : "Nothing in quarantine: every instance received was accepted."}
      filters={<QuarantineFilters value={filter} onChange={setFilter} codes={list.data?.reasonCodes ?? []} sort={{ value: sort, onChange: setSort }} />}
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
    </>
  );
}
