"use client";
import { useEffect, useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import {
  Alert, Anchor, Badge, Button, Card, Checkbox, Group, Select, PasswordInput, Progress, SegmentedControl, SimpleGrid, Stack, Table, Text, TextInput, Title, Tooltip,
} from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { IconAlertTriangle, IconCircleCheck, IconInfoCircle, IconPlugConnected, IconRefresh, IconDeviceFloppy } from "@tabler/icons-react";
import { useTRPC, useTRPCClient } from "@/components/trpc";
import { BulkRunModal, SelectionBar, type BulkAction } from "@/components/ui/BulkRun";
import {
  emptySelection, isSelected, pageState, selectedCount, selectionProblem, selectMatching, toggle, togglePage, toSelection, type RowSelection,
} from "@/lib/portal/selection";
import { ErrorAlert } from "@/components/ui/ErrorAlert";
import { LightBadge, LightCheckbox, LightTd, LightTr, lightText } from "@/components/ui/light";
import { ForwardPanel } from "./ForwardPanel";
import { firstArchivePage } from "./first-pages";

type Kind = "local" | "xnat";
type State = "queued" | "sending" | "verifying" | "archived" | "failed";

const stateColor: Record<State, string> = { queued: "gray", sending: "blue", verifying: "indigo", archived: "teal", failed: "red" };
const STATES: State[] = ["queued", "sending", "verifying", "archived", "failed"];

function mb(n: number): string {
  return n >= 1e9 ? `${(n / 1e9).toFixed(2)} GB` : `${(n / 1e6).toFixed(1)} MB`;
}

// A page shows 100 rows: plain elements with Mantine's variables (components/ui/light), issue #21.
const SM_MONO = { ...lightText.sm, ...lightText.mono } as const;
const XS_DIM = { ...lightText.xs, ...lightText.dimmed } as const;
const XS_DIM_NOWRAP = { ...XS_DIM, whiteSpace: "nowrap" } as const;

function relative(d: Date | string): string {
  const ms = new Date(d).getTime() - Date.now();
  const abs = Math.abs(ms);
  const text = abs < 60_000 ? `${Math.round(abs / 1000)} s` : abs < 3600_000 ? `${Math.round(abs / 60_000)} min` : `${(abs / 3600_000).toFixed(1)} h`;
  return ms >= 0 ? `in ${text}` : `${text} ago`;
}

function TargetSettings({ projectId, isOwner }: { projectId: string; isOwner: boolean }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const target = useQuery(trpc.archive.target.queryOptions({ projectId }));
  const [kind, setKind] = useState<Kind>("local");
  const [xnatUrl, setUrl] = useState("");
  const [xnatProject, setProject] = useState("");
  const [xnatUser, setUser] = useState("");
  const [xnatSecret, setSecret] = useState("");
  const t = target.data;
  useEffect(() => {
    if (!t) return;
    setKind(t.kind);
    setUrl(t.xnatUrl ?? "");
    setProject(t.xnatProject ?? "");
    setUser(t.xnatUser ?? "");
  }, [t]);
  const refresh = () =>
    Promise.all([
      queryClient.invalidateQueries({ queryKey: trpc.archive.target.queryKey({ projectId }) }),
      queryClient.invalidateQueries({ queryKey: trpc.archive.status.queryKey({ projectId }) }),
    ]);
  const save = useMutation(
    trpc.archive.setTarget.mutationOptions({
      onSuccess: async (r) => {
        setSecret("");
        notifications.show({ color: "teal", title: "Archive target saved", message: r.kind === "local" ? "New studies go to the built-in local archive." : "New studies go to the XNAT." });
        await refresh();
      },
    }),
  );
  const test = useMutation(trpc.archive.testConnection.mutationOptions());
  const fieldError = (path: string) => save.error?.data?.fieldErrors?.find((f) => f.path === path)?.message;
  const xnatFields = { xnatUrl, xnatProject, xnatUser, xnatSecret: xnatSecret || undefined };
  const storedFor = t?.kind === "xnat" && t.hasSecret && t.xnatUrl === xnatUrl.replace(/\/+$/, "") && t.xnatUser === xnatUser;

  return (
    <Card withBorder radius="md" padding="lg">
      <Group justify="space-between" mb="sm">
        <Title order={5}>Archive target</Title>
        <Text size="xs" c="dimmed">Where this project&apos;s stable studies are archived and verified.</Text>
      </Group>
      <ErrorAlert error={target.error} title="Could not load the archive target" onRetry={() => void target.refetch()} />
      {t && !isOwner && (
        <Text size="sm">
          {t.kind === "local" ? "Atrium's built-in local archive." : <>XNAT <Text span ff="monospace">{t.xnatUrl}</Text>, project <Text span ff="monospace">{t.xnatProject}</Text>, as {t.xnatUser}.</>}
        </Text>
      )}
      {t && isOwner && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            save.mutate(kind === "local" ? { projectId, kind: "local" } : { projectId, kind: "xnat", ...xnatFields });
          }}
        >
          <Stack gap="sm">
            <SegmentedControl
              value={kind}
              onChange={(v) => setKind(v as Kind)}
              data={[{ value: "local", label: "Built-in local archive" }, { value: "xnat", label: "XNAT" }]}
              style={{ alignSelf: "flex-start" }}
            />
            {kind === "local" && <Text size="sm" c="dimmed">Files are kept by Atrium (blob store) and indexed by subject, experiment and scan. No configuration needed.</Text>}
            {kind === "xnat" && (
              <>
                <Group grow align="flex-start">
                  <TextInput
                    label="XNAT URL"
                    placeholder="https://xnat.example.org"
                    description="XNAT's root, without user, password, query or fragment. Addresses on this machine or a private network need the site admin's allow-list."
                    value={xnatUrl}
                    onChange={(e) => setUrl(e.currentTarget.value)}
                    error={fieldError("xnatUrl")}
                  />
                  <TextInput label="Project ID on that XNAT" placeholder="STUDY1" value={xnatProject} onChange={(e) => setProject(e.currentTarget.value)} error={fieldError("xnatProject")} />
                </Group>
                <Group grow align="flex-start">
                  <TextInput label="User (or alias token)" value={xnatUser} onChange={(e) => setUser(e.currentTarget.value)} error={fieldError("xnatUser")} />
                  <PasswordInput
                    label="Password (or token secret)"
                    description={storedFor ? "Stored encrypted; leave empty to keep it" : "Stored encrypted, never shown again"}
                    placeholder={storedFor ? "••••••••" : ""}
                    value={xnatSecret}
                    onChange={(e) => setSecret(e.currentTarget.value)}
                    error={fieldError("xnatSecret")}
                  />
                </Group>
                <Text size="xs" c="dimmed">The account must be a Member or Owner of the project on XNAT: without create rights XNAT silently puts uploads elsewhere. Subjects and sessions are labelled with pseudonyms.</Text>
              </>
            )}
            {test.data && (
              <Alert
                color={test.data.ok ? "teal" : "red"}
                icon={test.data.ok ? <IconCircleCheck size={18} /> : <IconAlertTriangle size={18} />}
                title={test.data.ok ? "Connection works" : "Connection problem"}
                data-testid="connection-result"
              >
                {test.data.message}
                {test.data.version && <Text size="xs" mt={4}>XNAT {test.data.version}{test.data.login ? ` · logged in as ${test.data.login}` : ""}{test.data.role !== undefined ? ` · role in project: ${test.data.role ?? "none"}` : ""}</Text>}
              </Alert>
            )}
            <ErrorAlert error={test.error} title="Connection not tested" />
            {save.error && !save.error.data?.fieldErrors?.length && <ErrorAlert error={save.error} title="Not saved" />}
            <Group justify="flex-end">
              {kind === "xnat" && (
                <Button variant="default" leftSection={<IconPlugConnected size={16} />} loading={test.isPending} onClick={() => test.mutate({ projectId, xnat: xnatFields })}>
                  Test connection
                </Button>
              )}
              <Button type="submit" loading={save.isPending} leftSection={<IconDeviceFloppy size={16} />}>Save target</Button>
            </Group>
          </Stack>
        </form>
      )}
    </Card>
  );
}

const NOUN: [string, string] = ["failed study", "failed studies"];
type Sort = "newest" | "oldest" | "updated";

function ArchiveStatus({ projectId, isOwner }: { projectId: string; isOwner: boolean }) {
  const trpc = useTRPC();
  const client = useTRPCClient();
  const queryClient = useQueryClient();
  const [state, setStateFilter] = useState<State | undefined>(undefined);
  const [sort, setSort] = useState<Sort>("newest");
  const [cursors, setCursors] = useState<string[]>([]);
  // Failed studies ticked for "retry": by id across pages, or every failed study.
  const [sel, setSel] = useState<RowSelection<{ state?: State }>>(emptySelection());
  const [bulk, setBulk] = useState<BulkAction | null>(null);
  const cursor = cursors[cursors.length - 1];
  const status = useQuery(trpc.archive.status.queryOptions({ ...firstArchivePage(projectId), sort, ...(state ? { state } : {}), ...(cursor ? { cursor } : {}) }, { refetchInterval: bulk ? false : 3_000 }));
  const retry = useMutation(
    trpc.archive.retry.mutationOptions({
      onSuccess: () => queryClient.invalidateQueries({ queryKey: trpc.archive.status.queryKey({ projectId }) }),
      onError: (e) => notifications.show({ color: "red", title: "Not retried", message: e.message }),
    }),
  );
  const s = status.data;
  const failedIds = (s?.studies ?? []).filter((r) => r.state === "failed").map((r) => r.studyId);
  const count = selectedCount(sel);
  const problem = selectionProblem(sel);
  const failedTotal = s?.counts.failed ?? 0;
  const many = `${count.toLocaleString("en")} ${count === 1 ? NOUN[0] : NOUN[1]}`;
  const retryAction = (): BulkAction => {
    const selection = toSelection(sel);
    return {
      title: `Retry ${many}?`,
      confirmLabel: `Retry ${many}`,
      expected: count,
      pastTense: "queued again",
      noun: NOUN,
      call: () => client.archive.retryMany.mutate({ projectId, selection }),
      what: `${many} ${count === 1 ? "is" : "are"} queued for archiving again now (${sel.kind === "matching" ? "every study that had failed when the list was loaded" : "the studies you ticked"}), with a new round of attempts to ${s?.target.kind === "xnat" ? `XNAT ${s.target.url}` : "the local archive"}. Studies that are no longer failed are left as they are. Each retry is recorded in the audit log.`,
    };
  };
  return (
    <Card withBorder radius="md" padding="lg">
      <BulkRunModal
        action={bulk}
        onClose={() => setBulk(null)}
        onFinished={async (p) => {
          if (p.state === "finished") setSel(emptySelection());
          await queryClient.invalidateQueries({ queryKey: trpc.archive.status.queryKey() });
        }}
      />
      <Group justify="space-between" mb="sm">
        <Title order={5}>Archive status</Title>
        {s && (
          <Text size="xs" c="dimmed">
            {s.target.kind === "local" ? "to the built-in local archive" : `to XNAT ${s.target.url} · ${s.target.project}`}
            {s.intake.receiving + s.intake.stable > 0 ? ` · ${s.intake.receiving + s.intake.stable} stud${s.intake.receiving + s.intake.stable === 1 ? "y" : "ies"} still receiving` : ""}
          </Text>
        )}
      </Group>
      <ErrorAlert error={status.error} title="Could not load the archive status" onRetry={() => void status.refetch()} />
      {s && (
        <SimpleGrid cols={{ base: 2, sm: 5 }} mb="md">
          {STATES.map((st) => (
            <Card
              key={st}
              withBorder
              radius="md"
              padding="sm"
              data-testid={`count-${st}`}
              component="button"
              aria-pressed={state === st}
              style={{ cursor: "pointer", textAlign: "left", outline: state === st ? "2px solid var(--mantine-color-blue-6)" : undefined }}
              onClick={() => { setStateFilter(state === st ? undefined : st); setCursors([]); setSel(emptySelection()); }}
            >
              <Text size="xs" tt="uppercase" fw={600} c="dimmed">{st}</Text>
              <Text size="xl" fw={700} c={s.counts[st] && st !== "queued" ? stateColor[st] : undefined}>{s.counts[st].toLocaleString()}</Text>
            </Card>
          ))}
        </SimpleGrid>
      )}
      {isOwner && s && (
        <SelectionBar
          count={count}
          pageCount={failedIds.length}
          matchingTotal={failedTotal}
          allMatching={sel.kind === "matching"}
          onSelectMatching={() => setSel(selectMatching(state ? { state } : {}, new Date(s.asOf), failedTotal))}
          matchingLabel={`Select all ${failedTotal.toLocaleString("en")} failed studies`}
          onClear={() => setSel(emptySelection())}
          noun={NOUN}
          problem={problem}
        >
          <Button size="xs" leftSection={<IconRefresh size={14} />} disabled={Boolean(problem)} onClick={() => setBulk(retryAction())}>Retry</Button>
        </SelectionBar>
      )}
      {s && (
        <Group justify="space-between" mb="xs" mt="xs">
          <Text size="sm" c="dimmed" data-testid="archive-count">
            {s.studies.length < s.total ? `${(cursors.length * 100 + 1).toLocaleString("en")}–${(cursors.length * 100 + s.studies.length).toLocaleString("en")} of ${s.total.toLocaleString("en")} studies` : `${s.total.toLocaleString("en")} stud${s.total === 1 ? "y" : "ies"}`}
            {state ? ` · ${state} only (click the count again to show all)` : ""}
          </Text>
          <Group gap="xs">
            <Select
              size="xs"
              w={170}
              aria-label="Order"
              value={sort}
              allowDeselect={false}
              data={[{ value: "newest", label: "Newest first" }, { value: "oldest", label: "Oldest first" }, { value: "updated", label: "Latest change first" }]}
              onChange={(v) => { if (v) { setSort(v as Sort); setCursors([]); } }}
            />
            <Button size="xs" variant="default" disabled={!cursors.length} onClick={() => setCursors(cursors.slice(0, -1))}>Previous</Button>
            <Button size="xs" variant="default" disabled={!s.nextCursor} onClick={() => setCursors([...cursors, s.nextCursor!])}>Next</Button>
          </Group>
        </Group>
      )}
      <Table verticalSpacing="xs">
        <Table.Thead>
          <Table.Tr>
            {isOwner && (
              <Table.Th w={36}>
                <Checkbox
                  aria-label="Select every failed study of this page"
                  checked={pageState(sel, failedIds) === "all" && failedIds.length > 0}
                  indeterminate={pageState(sel, failedIds) === "some"}
                  disabled={failedIds.length === 0}
                  onChange={(e) => setSel(togglePage(sel, failedIds, e.currentTarget.checked))}
                  data-testid="select-page"
                />
              </Table.Th>
            )}
            <Table.Th>Subject</Table.Th>
            <Table.Th w={90}>Instances</Table.Th>
            <Table.Th w={110}>State</Table.Th>
            <Table.Th>Progress / details</Table.Th>
            <Table.Th w={80}>Attempts</Table.Th>
            {isOwner && <Table.Th w={90} />}
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {s?.studies.length === 0 && (
            <Table.Tr><Table.Td colSpan={isOwner ? 7 : 5}><Text size="sm" c="dimmed">No study has been handed to the archive yet: studies are archived once they are stable.</Text></Table.Td></Table.Tr>
          )}
          {s?.studies.map((r) => {
            const pct = r.totalBytes ? Math.round((r.doneBytes / r.totalBytes) * 100) : 0;
            return (
              <LightTr key={r.studyId} data-testid={`archive-row-${r.state}`}>
                {isOwner && (
                  <LightTd>
                    {r.state === "failed" && <LightCheckbox label="Select this failed study" checked={isSelected(sel, r.studyId)} onChange={() => setSel(toggle(sel, r.studyId))} />}
                  </LightTd>
                )}
                <LightTd>
                  <div style={SM_MONO}>{r.subjectLabel}</div>
                  {r.experiment && <div style={lightText.xs}>{[r.experiment.studyDate, r.experiment.modalities.join("/"), r.experiment.description].filter(Boolean).join(" · ")}</div>}
                  <div style={XS_DIM_NOWRAP}>{r.targetKind === "xnat" ? "XNAT" : "local"} · queued {relative(r.queuedAt)}</div>
                </LightTd>
                <LightTd><div style={lightText.sm}>{r.state === "archived" ? r.archivedInstances : r.instances}</div></LightTd>
                <LightTd><LightBadge color={stateColor[r.state]} size="md">{r.state}</LightBadge></LightTd>
                <LightTd>
                  {(r.state === "sending" || r.state === "verifying") && (
                    <Stack gap={2}>
                      <Progress value={r.state === "verifying" ? 100 : pct} animated striped color={stateColor[r.state]} aria-label="Archive progress" />
                      <Text size="xs" c="dimmed">{r.state === "verifying" ? "checking what arrived" : pct >= 100 ? `${mb(r.totalBytes)} sent, waiting for the archive to store it` : `${mb(r.doneBytes)} of ${mb(r.totalBytes)} (${pct}%)`}</Text>
                    </Stack>
                  )}
                  {r.state === "queued" && <div style={XS_DIM}>waiting for a worker</div>}
                  {r.state === "archived" && (
                    <div>
                      <div style={lightText.xs}>
                        {r.location && /^https?:/.test(r.location) ? <Anchor href={r.location} target="_blank" size="xs" ff="monospace">{r.location}</Anchor> : "in the local archive"}
                      </div>
                      <div style={XS_DIM}>{r.archivedAt ? `archived ${relative(r.archivedAt)}` : ""}{r.receivingAgain ? " · new instances arrived: will be archived again" : ""}</div>
                      {r.verificationNote && (
                        <Group gap={4} wrap="nowrap" align="flex-start" mt={2} data-testid="archive-note">
                          <IconInfoCircle size={14} color="var(--mantine-color-teal-7)" style={{ flexShrink: 0, marginTop: 1 }} aria-hidden />
                          <Text size="xs" c="teal.9">{r.verificationNote}</Text>
                        </Group>
                      )}
                    </div>
                  )}
                  {r.state === "failed" && (
                    <Stack gap={2}>
                      <Text size="xs" c="red" data-testid="archive-error">{r.lastError}</Text>
                      <Text size="xs" c="dimmed">{r.nextAttemptAt ? `next attempt ${relative(r.nextAttemptAt)}` : "no automatic retry left: fix the cause, then retry"}</Text>
                    </Stack>
                  )}
                </LightTd>
                <LightTd><div style={lightText.sm}>{r.attempts}</div></LightTd>
                {isOwner && (
                  <LightTd>
                    {r.state === "failed" && (
                      <Tooltip label="Queue this study again now">
                        <Button size="xs" variant="light" leftSection={<IconRefresh size={14} />} loading={retry.isPending && retry.variables?.studyId === r.studyId} onClick={() => retry.mutate({ projectId, studyId: r.studyId })}>
                          Retry
                        </Button>
                      </Tooltip>
                    )}
                  </LightTd>
                )}
              </LightTr>
            );
          })}
        </Table.Tbody>
      </Table>
    </Card>
  );
}

export function ArchivePanel({ projectId, isOwner }: { projectId: string; isOwner: boolean }) {
  return (
    <Stack gap="lg">
      <TargetSettings projectId={projectId} isOwner={isOwner} />
      <ArchiveStatus projectId={projectId} isOwner={isOwner} />
      <ForwardPanel projectId={projectId} isOwner={isOwner} />
    </Stack>
  );
}
