"use client";
// The Browse tab: subjects → experiments → scans of the project's archive, with thumbnails, counts,
// sizes, dates, modalities, archive state and location; a selection; zip downloads with progress.
import { useEffect, useRef, useState } from "react";
import { usePathname, useRouter, useSearchParams } from "next/navigation";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import {
  ActionIcon, Alert, Anchor, Badge, Box, Breadcrumbs, Button, Card, Checkbox, Drawer, Group, Pagination, Progress, ScrollArea, SimpleGrid, Skeleton, Slider, Stack, Table, Text, TextInput, Tooltip,
} from "@mantine/core";
import { useDebouncedValue } from "@mantine/hooks";
import { notifications } from "@mantine/notifications";
import { IconDownload, IconExternalLink, IconEye, IconLock, IconPhotoOff, IconSearch, IconX } from "@tabler/icons-react";
import Link from "next/link";
import { useTRPC, useTRPCClient } from "@/components/trpc";
import { browseQuery, parseBrowseLocation, type BrowseLocation, type BrowseSearchParams } from "@/lib/portal/browse-url";
import type { RouterOutputs } from "@/components/types";
import { ErrorAlert } from "@/components/ui/ErrorAlert";
import { ReviewBadge } from "@/components/pixels/PixelReviewQueue";
import { ExperimentResults } from "@/components/pipelines/ExperimentResults";
import { dicomDate, downloadUrl, humanBytes, type ArchiveStatus } from "@/lib/archive/browse";
import { DownloadError, downloadZip, nativeDownload } from "./download-client";

type Overview = RouterOutputs["browse"]["overview"];
type Experiment = RouterOutputs["browse"]["experiments"]["items"][number];
type Scan = RouterOutputs["browse"]["scans"]["items"][number];


interface Picked {
  label: string;
  bytes: number;
}
interface Selection {
  subjects: Map<string, Picked>;
  experiments: Map<string, Picked>;
  scans: Map<string, Picked>;
}
const NO_SELECTION: Selection = { subjects: new Map(), experiments: new Map(), scans: new Map() };

interface ActiveDownload {
  label: string;
  received: number;
  total: number;
  controller: AbortController;
}

/** Zips above this go to the browser's own download manager (GET only). */
const NATIVE_DOWNLOAD_BYTES = 2 * 1024 * 1024 * 1024;
const PAGE_SIZE = 25;

const statusColor: Record<ArchiveStatus, string> = { queued: "gray", sending: "blue", verifying: "indigo", archived: "teal", failed: "red" };

export function BrowsePanel({ projectId }: { projectId: string }) {
  const trpc = useTRPC();
  const overview = useQuery(trpc.browse.overview.queryOptions({ projectId }));
  // Where the tab is lives in the URL: Back, reload and links keep the place.
  const router = useRouter();
  const pathname = usePathname();
  const params = useSearchParams();
  const loc = parseBrowseLocation(params);
  const go = (next: BrowseLocation) => router.push(`${pathname}?${browseQuery(next)}`, { scroll: false });
  const level = loc.experiment ? "scans" : loc.subject ? "experiments" : loc.search ? "search" : "subjects";
  const scansHead = useQuery({ ...trpc.browse.scans.queryOptions({ projectId, experimentId: loc.experiment ?? "-", page: 1, pageSize: 1 }), enabled: Boolean(loc.experiment) });
  const experimentLabel = scansHead.data?.experiment.label ?? loc.experiment ?? "";
  const [selection, setSelection] = useState<Selection>(NO_SELECTION);
  const [download, setDownload] = useState<ActiveDownload | null>(null);
  const [downloadError, setDownloadError] = useState<string | null>(null);

  const o = overview.data;
  const canDownload = Boolean(o?.canDownload);
  // Images held for a pixel review: not in the archive yet; counted per subject for the badges.
  const held = useQuery(trpc.pixels.counts.queryOptions({ projectId }, { refetchInterval: 15_000 }));
  const heldBySubject = new Map((held.data?.subjects ?? []).map((h) => [h.subjectLabel, h.count]));

  const start = async (label: string, url: string, body?: unknown, expectedBytes = 0) => {
    setDownloadError(null);
    if (body === undefined && expectedBytes > NATIVE_DOWNLOAD_BYTES) {
      nativeDownload(url);
      notifications.show({ title: "Download started", message: `${label}: ${humanBytes(expectedBytes)}, handed to your browser's downloads (see its progress there).` });
      return;
    }
    const controller = new AbortController();
    setDownload({ label, received: 0, total: expectedBytes, controller });
    try {
      const r = await downloadZip(url, {
        body,
        signal: controller.signal,
        onProgress: (p) => setDownload((d) => (d && d.controller === controller ? { ...d, received: p.received, total: p.total || d.total } : d)),
      });
      notifications.show({ color: "teal", title: "Downloaded", message: `${r.fileName} (${humanBytes(r.bytes)})` });
    } catch (e) {
      if (controller.signal.aborted) notifications.show({ title: "Download cancelled", message: label });
      else setDownloadError(e instanceof DownloadError ? e.message : `The download failed: ${(e as Error).message}. Check your connection and try again.`);
    } finally {
      setDownload((d) => (d && d.controller === controller ? null : d));
    }
  };

  const togglePick = (kind: "subjects" | "experiments" | "scans", id: string, picked: Picked | null) =>
    setSelection((s) => {
      const m = new Map(s[kind]);
      if (picked) m.set(id, picked);
      else m.delete(id);
      return { ...s, [kind]: m };
    });
  const pickMany = (kind: "subjects" | "experiments", items: { id: string; picked: Picked }[], on: boolean) =>
    setSelection((s) => {
      const m = new Map(s[kind]);
      for (const i of items) {
        if (on) m.set(i.id, i.picked);
        else m.delete(i.id);
      }
      return { ...s, [kind]: m };
    });
  const selectedCount = selection.subjects.size + selection.experiments.size + selection.scans.size;
  const selectedBytes = [...selection.subjects.values(), ...selection.experiments.values(), ...selection.scans.values()].reduce((n, p) => n + p.bytes, 0);
  const counted = (n: number, one: string, many: string) => (n ? `${n.toLocaleString("en")} ${n === 1 ? one : many}` : "");

  return (
    <Stack>
      <ErrorAlert error={overview.error} title="Could not load the archive" onRetry={() => void overview.refetch()} />
      {o ? <Summary o={o} /> : <Skeleton h={80} />}
      {o && !o.canDownload && (
        <Alert color="yellow" icon={<IconLock size={18} />} title="You can browse this project, but not download its files" data-testid="download-refused">
          {o.downloadRefusal}
        </Alert>
      )}
      {held.data && held.data.total > 0 && (
        <Alert color="orange" title={`${held.data.total} image${held.data.total === 1 ? "" : "s"} held for a pixel review`} data-testid="held-for-review">
          Their pixels may show burned-in identifying text: they are not in the archive, downloads or DICOMweb until an owner blanks and releases them (Intake tab, Pixel review).
        </Alert>
      )}
      {downloadError && (
        <Alert color="red" title="Download failed" withCloseButton onClose={() => setDownloadError(null)}>
          {downloadError}
        </Alert>
      )}
      {download && <DownloadProgressCard d={download} />}
      {selectedCount > 0 && (
        <Card withBorder padding="sm" radius="md" bg="var(--mantine-color-blue-light)" data-testid="selection-bar">
          <Group justify="space-between">
            <Text size="sm" data-testid="download-selection">
              Selected: {[counted(selection.subjects.size, "whole subject", "whole subjects"), counted(selection.experiments.size, "experiment", "experiments"), counted(selection.scans.size, "scan", "scans")].filter(Boolean).join(", ")} · {humanBytes(selectedBytes)}
            </Text>
            <Group gap="xs">
              <Button variant="subtle" size="xs" onClick={() => setSelection(NO_SELECTION)}>Clear</Button>
              <Button
                size="xs"
                leftSection={<IconDownload size={14} />}
                disabled={!canDownload || Boolean(download)}
                onClick={() => void start("Selection", downloadUrl(projectId), { subjects: [...selection.subjects.keys()], experiments: [...selection.experiments.keys()], scans: [...selection.scans.keys()] }, 0)}
              >
                Download selection (zip)
              </Button>
            </Group>
          </Group>
        </Card>
      )}
      <Breadcrumbs data-testid="browse-place">
        <Anchor component="button" onClick={() => go({})} c={level === "subjects" ? "dimmed" : undefined}>Subjects</Anchor>
        {level === "search" && <Text size="sm">Search results</Text>}
        {loc.subject && (
          <Anchor component="button" onClick={() => go({ subject: loc.subject })} c={level === "experiments" ? "dimmed" : undefined} ff="monospace">
            {loc.subject}
          </Anchor>
        )}
        {loc.experiment && <Text ff="monospace" size="sm">{experimentLabel}</Text>}
      </Breadcrumbs>
      {(level === "subjects" || level === "search") && <SearchForm value={loc.search} onSearch={(search) => go(search ? { search } : {})} />}
      {level === "search" && (
        <SearchResults
          projectId={projectId}
          search={loc.search!}
          canDownload={canDownload}
          selected={selection.experiments}
          onPick={(items, on) => pickMany("experiments", items, on)}
          onOpen={(subject, experiment) => go({ subject, experiment })}
        />
      )}
      {level === "subjects" && (
        <SubjectsTable
          projectId={projectId}
          held={heldBySubject}
          onOpen={(subject) => go({ subject })}
          canDownload={canDownload}
          selected={selection.subjects}
          onPick={(items, on) => pickMany("subjects", items, on)}
        />
      )}
      {level === "experiments" && (heldBySubject.get(loc.subject!) ?? 0) > 0 && (
        <Group gap="xs"><ReviewBadge count={heldBySubject.get(loc.subject!)!} /><Text size="sm" c="dimmed">image(s) of this subject are held for a pixel review and not listed below yet.</Text></Group>
      )}
      {level === "experiments" && (
        <ExperimentsTable
          projectId={projectId}
          subject={loc.subject!}
          canDownload={canDownload}
          busy={Boolean(download)}
          selected={selection.experiments}
          onPick={(e, on) => togglePick("experiments", e.id!, on ? { label: e.label, bytes: e.bytes } : null)}
          onOpen={(e) => go({ subject: loc.subject, experiment: e.id! })}
          onDownload={(e) => void start(e.label, downloadUrl(projectId, { experiment: e.id! }), undefined, e.bytes)}
        />
      )}
      {level === "scans" && (
        <ScansTable
          projectId={projectId}
          experimentId={loc.experiment!}
          canDownload={canDownload}
          busy={Boolean(download)}
          experimentSelected={selection.experiments.has(loc.experiment!)}
          selected={selection.scans}
          onPick={(s, on) => togglePick("scans", s.id, on ? { label: `${experimentLabel} #${s.seriesNumber ?? "?"}`, bytes: s.bytes } : null)}
          onDownload={(s) => void start(`${experimentLabel} scan ${s.seriesNumber ?? ""}`, downloadUrl(projectId, { scan: s.id }), undefined, s.bytes)}
          onOpenScan={(s) => go({ ...loc, scan: s.id })}
        />
      )}
      {level === "scans" && <ExperimentResults projectId={projectId} experimentId={loc.experiment!} />}
      {loc.scan && canDownload && (
        <ScanDrawer projectId={projectId} experimentId={loc.experiment!} scanId={loc.scan} onClose={() => go({ subject: loc.subject, experiment: loc.experiment })} />
      )}
    </Stack>
  );
}

function Summary({ o }: { o: Overview }) {
  const fact = (label: string, value: React.ReactNode) => (
    <div>
      <Text size="xs" tt="uppercase" fw={600} c="dimmed">{label}</Text>
      <Text size="sm" mt={2}>{value}</Text>
    </div>
  );
  return (
    <Card withBorder radius="md" padding="md">
      <SimpleGrid cols={{ base: 2, sm: 5 }}>
        {fact("Subjects", o.local.subjects + o.notLocalSubjects)}
        {fact("Experiments", o.notLocal ? `${o.local.experiments} local + ${o.notLocal} on XNAT or being archived` : o.local.experiments)}
        {fact("Scans", o.local.scans)}
        {fact("Size", `${humanBytes(o.local.bytes)} in ${o.local.instances} files`)}
        {fact(
          "Archive",
          o.target.kind === "xnat" ? (
            <>XNAT {o.target.xnatUrl ? <Anchor href={o.target.xnatUrl} target="_blank" rel="noreferrer" size="sm">{hostOf(o.target.xnatUrl)}</Anchor> : null}{o.target.xnatProject ? ` · ${o.target.xnatProject}` : ""}</>
          ) : (
            "Local archive"
          ),
        )}
      </SimpleGrid>
    </Card>
  );
}

function hostOf(u: string): string {
  try {
    return new URL(u).host;
  } catch {
    return u;
  }
}

function DownloadProgressCard({ d }: { d: ActiveDownload }) {
  const pct = d.total ? Math.min(100, (d.received / d.total) * 100) : 0;
  return (
    <Card withBorder radius="md" padding="sm" data-testid="download-progress">
      <Group justify="space-between" mb={6}>
        <Text size="sm">Downloading {d.label}: {humanBytes(d.received)}{d.total ? ` of ${humanBytes(d.total)} (${Math.floor(pct)}%)` : ""}</Text>
        <Button size="xs" variant="subtle" color="red" leftSection={<IconX size={14} />} onClick={() => d.controller.abort()}>Cancel</Button>
      </Group>
      <Progress value={pct} animated={!d.total} striped={!d.total} />
    </Card>
  );
}

function useFilter() {
  const [search, setSearch] = useState("");
  const [debounced] = useDebouncedValue(search.trim(), 300);
  const [page, setPage] = useState(1);
  useEffect(() => setPage(1), [debounced]);
  return { search, setSearch, debounced, page, setPage };
}

function FilterInput({ value, onChange, placeholder }: { value: string; onChange: (v: string) => void; placeholder: string }) {
  return (
    <TextInput
      leftSection={<IconSearch size={14} />}
      placeholder={placeholder}
      aria-label={placeholder}
      value={value}
      onChange={(e) => onChange(e.currentTarget.value)}
      w={360}
      maw="100%"
    />
  );
}

function Pager({ total, page, setPage }: { total: number; page: number; setPage: (p: number) => void }) {
  const pages = Math.ceil(total / PAGE_SIZE);
  if (pages <= 1) return null;
  return <Pagination total={pages} value={page} onChange={setPage} size="sm" />;
}

function SubjectsTable({
  projectId, onOpen, held, canDownload, selected, onPick,
}: {
  projectId: string;
  onOpen: (subject: string) => void;
  held: Map<string, number>;
  canDownload: boolean;
  selected: Map<string, Picked>;
  onPick: (items: { id: string; picked: Picked }[], on: boolean) => void;
}) {
  const trpc = useTRPC();
  const client = useTRPCClient();
  const [selectingAll, setSelectingAll] = useState(false);
  const f = useFilter();
  const [needsReview, setNeedsReview] = useState(false);
  const q = useQuery(trpc.browse.subjects.queryOptions({ projectId, search: f.debounced || undefined, page: f.page, pageSize: PAGE_SIZE }, { placeholderData: keepPreviousData }));
  const rows = q.data?.items ?? [];
  if (needsReview) {
    const list = [...held].filter(([label]) => !f.debounced || label.toLowerCase().includes(f.debounced.toLowerCase()));
    return (
      <Stack>
        <Group justify="space-between">
          <Group>
            <FilterInput value={f.search} onChange={f.setSearch} placeholder="Filter subjects by label" />
            <Checkbox label="Needs pixel review" checked onChange={() => setNeedsReview(false)} data-testid="filter-needs-review" />
          </Group>
          <Text size="sm" c="dimmed">{list.length} subject{list.length === 1 ? "" : "s"} with held images</Text>
        </Group>
        <Card withBorder padding={0} radius="md">
          <Table verticalSpacing="sm" horizontalSpacing="md" data-testid="subjects-needing-review">
            <Table.Thead><Table.Tr><Table.Th>Subject</Table.Th><Table.Th>Held images</Table.Th></Table.Tr></Table.Thead>
            <Table.Tbody>
              {list.map(([label, n]) => (
                <Table.Tr key={label}>
                  <Table.Td><Text ff="monospace" size="sm">{label}</Text></Table.Td>
                  <Table.Td><ReviewBadge count={n} /></Table.Td>
                </Table.Tr>
              ))}
              {list.length === 0 && <EmptyRow cols={2} text="No subject has images held for a pixel review." />}
            </Table.Tbody>
          </Table>
        </Card>
      </Stack>
    );
  }
  // Only subjects with experiments in the local archive can be downloaded whole.
  const pickable = rows.filter((s) => s.localExperiments > 0).map((s) => ({ id: s.label, picked: { label: s.label, bytes: s.bytes } }));
  const pageOn = pickable.length > 0 && pickable.every((p) => selected.has(p.id));
  const total = q.data?.total ?? 0;
  // Every subject matching the filter, across pages (the list is paged on the server).
  const selectAll = async () => {
    setSelectingAll(true);
    try {
      const all: { id: string; picked: Picked }[] = [];
      for (let page = 1; ; page++) {
        const r = await client.browse.subjects.query({ projectId, search: f.debounced || undefined, page, pageSize: 200 });
        for (const s of r.items) if (s.localExperiments > 0) all.push({ id: s.label, picked: { label: s.label, bytes: s.bytes } });
        if (page * 200 >= r.total || !r.items.length) break;
      }
      onPick(all, true);
    } finally {
      setSelectingAll(false);
    }
  };
  return (
    <Stack>
      <Group justify="space-between">
        <Group>
          <FilterInput value={f.search} onChange={f.setSearch} placeholder="Filter subjects by label" />
          {held.size > 0 && <Checkbox label="Needs pixel review" checked={false} onChange={() => setNeedsReview(true)} data-testid="filter-needs-review" />}
        </Group>
        <Group gap="sm">
          {canDownload && total > rows.length && pageOn && (
            <Button size="xs" variant="subtle" loading={selectingAll} onClick={() => void selectAll()} data-testid="select-all-subjects">
              Select all {total.toLocaleString("en")} subjects for download
            </Button>
          )}
          <Text size="sm" c="dimmed">{q.data ? `${q.data.total} subject${q.data.total === 1 ? "" : "s"}` : ""}</Text>
        </Group>
      </Group>
      <ErrorAlert error={q.error} title="Could not load subjects" onRetry={() => void q.refetch()} />
      <Card withBorder padding={0} radius="md">
        <Table highlightOnHover verticalSpacing="sm" horizontalSpacing="md" data-testid="subjects-table">
          <Table.Thead>
            <Table.Tr>
              {canDownload && (
                <Table.Th w={36}>
                  <Checkbox aria-label="Select every subject of this page for download" checked={pageOn} disabled={!pickable.length} onChange={(e) => onPick(pickable, e.currentTarget.checked)} data-testid="select-subjects-page" />
                </Table.Th>
              )}
              <Table.Th>Subject</Table.Th>
              <Table.Th>Experiments</Table.Th>
              <Table.Th>Files</Table.Th>
              <Table.Th>Size</Table.Th>
              <Table.Th>Latest study</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {rows.map((s) => (
              <Table.Tr key={s.label} style={{ cursor: "pointer" }} onClick={() => onOpen(s.label)}>
                {canDownload && (
                  <Table.Td onClick={(e) => e.stopPropagation()}>
                    {s.localExperiments > 0 && (
                      <Checkbox aria-label={`Select subject ${s.label} for download`} checked={selected.has(s.label)} onChange={(e) => onPick([{ id: s.label, picked: { label: s.label, bytes: s.bytes } }], e.currentTarget.checked)} />
                    )}
                  </Table.Td>
                )}
                <Table.Td>
                  <Group gap="xs">
                    <Anchor component="button" ff="monospace" size="sm" onClick={() => onOpen(s.label)}>{s.label}</Anchor>
                    <ReviewBadge count={held.get(s.label) ?? 0} />
                  </Group>
                </Table.Td>
                <Table.Td>
                  <Text size="sm">{s.experiments}{s.otherExperiments > 0 && <Text span c="dimmed" size="xs"> ({s.otherExperiments} not local)</Text>}</Text>
                </Table.Td>
                <Table.Td><Text size="sm">{s.localExperiments ? s.instances : "—"}</Text></Table.Td>
                <Table.Td><Text size="sm">{s.localExperiments ? humanBytes(s.bytes) : "—"}</Text></Table.Td>
                <Table.Td><Text size="sm">{dicomDate(s.latestStudyDate) ?? "—"}</Text></Table.Td>
              </Table.Tr>
            ))}
            {q.isPending && <SkeletonRows cols={6} />}
            {q.data && rows.length === 0 && <EmptyRow cols={6} text={f.debounced ? `No subject label contains "${f.debounced}".` : "Nothing archived yet. Studies appear here once they are archived."} />}
          </Table.Tbody>
        </Table>
      </Card>
      <Pager total={q.data?.total ?? 0} page={f.page} setPage={f.setPage} />
    </Stack>
  );
}

function ExperimentsTable(props: {
  projectId: string;
  subject: string;
  canDownload: boolean;
  busy: boolean;
  selected: Map<string, Picked>;
  onPick: (e: Experiment, on: boolean) => void;
  onOpen: (e: Experiment) => void;
  onDownload: (e: Experiment) => void;
}) {
  const trpc = useTRPC();
  const f = useFilter();
  const q = useQuery(
    trpc.browse.experiments.queryOptions({ projectId: props.projectId, subject: props.subject, search: f.debounced || undefined, page: f.page, pageSize: PAGE_SIZE }, { placeholderData: keepPreviousData }),
  );
  const rows = q.data?.items ?? [];
  return (
    <Stack>
      <Group justify="space-between">
        <FilterInput value={f.search} onChange={f.setSearch} placeholder="Filter experiments by label or description" />
        <Text size="sm" c="dimmed">{q.data ? `${q.data.total} experiment${q.data.total === 1 ? "" : "s"}` : ""}</Text>
      </Group>
      <ErrorAlert error={q.error} title="Could not load experiments" onRetry={() => void q.refetch()} />
      <Card withBorder padding={0} radius="md">
        <Table highlightOnHover verticalSpacing="sm" horizontalSpacing="md" data-testid="experiments-table">
          <Table.Thead>
            <Table.Tr>
              <Table.Th w={36} />
              <Table.Th>Experiment</Table.Th>
              <Table.Th>Study date</Table.Th>
              <Table.Th>Modalities</Table.Th>
              <Table.Th>Scans</Table.Th>
              <Table.Th>Files</Table.Th>
              <Table.Th>Size</Table.Th>
              <Table.Th>Archive</Table.Th>
              <Table.Th w={48} />
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {rows.map((e) => (
              <Table.Tr key={e.id ?? e.label}>
                <Table.Td>
                  {e.downloadable && e.id && props.canDownload ? (
                    <Checkbox aria-label={`Select ${e.label}`} checked={props.selected.has(e.id)} onChange={(ev) => props.onPick(e, ev.currentTarget.checked)} />
                  ) : null}
                </Table.Td>
                <Table.Td>
                  {e.id ? (
                    <Anchor component="button" ff="monospace" size="sm" onClick={() => props.onOpen(e)}>{e.label}</Anchor>
                  ) : (
                    <Text ff="monospace" size="sm">{e.label}</Text>
                  )}
                  {e.description && <Text size="xs" c="dimmed">{e.description}</Text>}
                </Table.Td>
                <Table.Td><Text size="sm">{dicomDate(e.studyDate) ?? "—"}</Text></Table.Td>
                <Table.Td><Group gap={4}>{e.modalities.map((m) => <Badge key={m} size="sm" variant="light">{m}</Badge>)}</Group></Table.Td>
                <Table.Td><Text size="sm">{e.scans ?? "—"}</Text></Table.Td>
                <Table.Td><Text size="sm">{e.instances}</Text></Table.Td>
                <Table.Td><Text size="sm">{e.bytes ? humanBytes(e.bytes) : "—"}</Text></Table.Td>
                <Table.Td>
                  <Stack gap={2}>
                    <Tooltip label={e.lastError ?? ""} disabled={!e.lastError} multiline w={300}>
                      <Badge size="sm" color={statusColor[e.status]} variant="light">{e.status}</Badge>
                    </Tooltip>
                    {e.location.href ? (
                      <Anchor href={e.location.href} target="_blank" rel="noreferrer" size="xs">{e.location.label} <IconExternalLink size={11} /></Anchor>
                    ) : (
                      <Text size="xs" c="dimmed">{e.location.label}</Text>
                    )}
                  </Stack>
                </Table.Td>
                <Table.Td>
                  <Group gap={2} wrap="nowrap">
                    {e.downloadable && e.id && <ViewIcon label={`View ${e.label}`} href={viewerUrl(props.projectId, e.id)} canView={props.canDownload} />}
                    {e.downloadable && e.id && (
                      <DownloadIcon label={`Download ${e.label} (${humanBytes(e.bytes)})`} disabled={!props.canDownload || props.busy} onClick={() => props.onDownload(e)} />
                    )}
                  </Group>
                </Table.Td>
              </Table.Tr>
            ))}
            {q.isPending && <SkeletonRows cols={9} />}
            {q.data && rows.length === 0 && <EmptyRow cols={9} text={f.debounced ? `No experiment matches "${f.debounced}".` : "This subject has no experiments."} />}
          </Table.Tbody>
        </Table>
      </Card>
      <Pager total={q.data?.total ?? 0} page={f.page} setPage={f.setPage} />
    </Stack>
  );
}

function ScansTable(props: {
  projectId: string;
  experimentId: string;
  canDownload: boolean;
  busy: boolean;
  experimentSelected: boolean;
  selected: Map<string, Picked>;
  onPick: (s: Scan, on: boolean) => void;
  onDownload: (s: Scan) => void;
  onOpenScan: (s: Scan) => void;
}) {
  const trpc = useTRPC();
  const f = useFilter();
  const q = useQuery(
    trpc.browse.scans.queryOptions({ projectId: props.projectId, experimentId: props.experimentId, search: f.debounced || undefined, page: f.page, pageSize: PAGE_SIZE }, { placeholderData: keepPreviousData }),
  );
  const rows = q.data?.items ?? [];
  return (
    <Stack>
      <Group justify="space-between">
        <FilterInput value={f.search} onChange={f.setSearch} placeholder="Filter scans by description or modality" />
        <Text size="sm" c="dimmed">{q.data ? `${q.data.total} scan${q.data.total === 1 ? "" : "s"}` : ""}</Text>
      </Group>
      <ErrorAlert error={q.error} title="Could not load scans" onRetry={() => void q.refetch()} />
      <Card withBorder padding={0} radius="md">
        <Table highlightOnHover verticalSpacing="xs" horizontalSpacing="md" data-testid="scans-table">
          <Table.Thead>
            <Table.Tr>
              <Table.Th w={36} />
              <Table.Th w={84}>Preview</Table.Th>
              <Table.Th>#</Table.Th>
              <Table.Th>Modality</Table.Th>
              <Table.Th>Description</Table.Th>
              <Table.Th>Files</Table.Th>
              <Table.Th>Size</Table.Th>
              <Table.Th w={72} />
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {rows.map((s) => (
              <Table.Tr key={s.id}>
                <Table.Td>
                  {props.canDownload && <Tooltip label="The whole experiment is selected" disabled={!props.experimentSelected}>
                    <Checkbox
                      aria-label={`Select scan ${s.seriesNumber ?? ""}`}
                      checked={props.experimentSelected || props.selected.has(s.id)}
                      disabled={props.experimentSelected}
                      onChange={(ev) => props.onPick(s, ev.currentTarget.checked)}
                    />
                  </Tooltip>}
                </Table.Td>
                <Table.Td><Thumbnail src={s.thumbnailUrl} alt={`Scan ${s.seriesNumber ?? ""}`} onOpen={props.canDownload ? () => props.onOpenScan(s) : undefined} /></Table.Td>
                <Table.Td><Text size="sm">{s.seriesNumber ?? "—"}</Text></Table.Td>
                <Table.Td>{s.modality ? <Badge size="sm" variant="light">{s.modality}</Badge> : "—"}</Table.Td>
                <Table.Td><Text size="sm">{s.description || <Text span c="dimmed" size="sm">no description</Text>}</Text></Table.Td>
                <Table.Td><Text size="sm">{s.instances}</Text></Table.Td>
                <Table.Td><Text size="sm">{humanBytes(s.bytes)}</Text></Table.Td>
                <Table.Td>
                  <Group gap={2} wrap="nowrap">
                    <ViewIcon label={`View scan ${s.seriesNumber ?? ""}`} href={viewerUrl(props.projectId, props.experimentId, s.seriesInstanceUid)} canView={props.canDownload} />
                    <DownloadIcon label={`Download scan ${s.seriesNumber ?? ""} (${humanBytes(s.bytes)})`} disabled={!props.canDownload || props.busy} onClick={() => props.onDownload(s)} />
                  </Group>
                </Table.Td>
              </Table.Tr>
            ))}
            {q.isPending && <SkeletonRows cols={8} />}
            {q.data && rows.length === 0 && <EmptyRow cols={8} text={f.debounced ? `No scan matches "${f.debounced}".` : "This experiment has no scans."} />}
          </Table.Tbody>
        </Table>
      </Card>
      <Pager total={q.data?.total ?? 0} page={f.page} setPage={f.setPage} />
    </Stack>
  );
}

/** The plain viewer of an experiment, or of one of its series. */
function viewerUrl(projectId: string, experimentId: string, seriesInstanceUid?: string): string {
  return `/projects/${encodeURIComponent(projectId)}/experiments/${encodeURIComponent(experimentId)}/view${seriesInstanceUid ? `?series=${seriesInstanceUid}` : ""}`;
}

/** Opens the viewer; viewing reads the stored images, so it follows the download rule. */
function ViewIcon({ label, href, canView }: { label: string; href: string; canView: boolean }) {
  return (
    <Tooltip label={canView ? label : "Viewing reads the stored images: ask an owner to let collaborators download"}>
      {canView ? (
        <ActionIcon component={Link} href={href} variant="subtle" aria-label={label}>
          <IconEye size={16} />
        </ActionIcon>
      ) : (
        <ActionIcon variant="subtle" aria-label={label} disabled>
          <IconEye size={16} />
        </ActionIcon>
      )}
    </Tooltip>
  );
}

function DownloadIcon({ label, disabled, onClick }: { label: string; disabled: boolean; onClick: () => void }) {
  return (
    <Tooltip label={label}>
      <ActionIcon variant="subtle" aria-label={label} disabled={disabled} onClick={onClick}>
        <IconDownload size={16} />
      </ActionIcon>
    </Tooltip>
  );
}

/** Why an image URL gave no image: the DICOMweb route's JSON reason, else a generic one. */
async function noImageReason(src: string): Promise<string> {
  try {
    const r = await fetch(src, { headers: { accept: "image/png" } });
    if (r.ok) return "The preview could not be shown.";
    const body = (await r.json().catch(() => null)) as { error?: string } | null;
    return body?.error ?? `The preview failed (HTTP ${r.status}).`;
  } catch {
    return "The preview could not be loaded: check your connection.";
  }
}

/** The rendered thumbnail (click: the larger view), or a placeholder that says why there is none. */
function Thumbnail({ src, alt, onOpen }: { src: string; alt: string; onOpen?: () => void }) {
  const [failed, setFailed] = useState<string | null>(null);
  const img = useRef<HTMLImageElement>(null);
  const fail = () => {
    setFailed("…");
    void noImageReason(src).then(setFailed);
  };
  useEffect(() => {
    // An image that failed before hydration attached onError.
    if (img.current?.complete && img.current.naturalWidth === 0) fail();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
  if (failed) {
    return (
      <Tooltip label={`No image: ${failed}`} multiline w={320}>
        <Box w={64} h={64} bg="var(--mantine-color-gray-1)" style={{ display: "flex", alignItems: "center", justifyContent: "center", borderRadius: 4 }} data-testid="thumbnail-placeholder" data-reason={failed} aria-label={`No image: ${failed}`}>
          <IconPhotoOff size={22} color="var(--mantine-color-gray-5)" />
        </Box>
      </Tooltip>
    );
  }
  const image = (
    // eslint-disable-next-line @next/next/no-img-element
    <img ref={img} src={src} alt={alt} width={64} height={64} loading="lazy" onError={fail} style={{ objectFit: "contain", background: "#000", borderRadius: 4, display: "block" }} />
  );
  if (!onOpen) return image;
  return (
    <Tooltip label="Open the larger view">
      <button type="button" onClick={onOpen} aria-label={`Open ${alt} larger`} data-testid="thumbnail-open" style={{ padding: 0, border: 0, background: "none", cursor: "zoom-in" }}>
        {image}
      </button>
    </Tooltip>
  );
}

function SkeletonRows({ cols }: { cols: number }) {
  return (
    <>
      {[0, 1, 2].map((i) => (
        <Table.Tr key={i}>
          <Table.Td colSpan={cols}><Skeleton h={18} /></Table.Td>
        </Table.Tr>
      ))}
    </>
  );
}

function EmptyRow({ cols, text }: { cols: number; text: string }) {
  return (
    <Table.Tr>
      <Table.Td colSpan={cols}><Text c="dimmed" size="sm" ta="center" py="md">{text}</Text></Table.Td>
    </Table.Tr>
  );
}

/** Search experiments across subjects: modality, words of a description, a study date range. */
function SearchForm({ value, onSearch }: { value?: BrowseSearchParams; onSearch: (s: BrowseSearchParams | undefined) => void }) {
  const [modality, setModality] = useState(value?.modality ?? "");
  const [text, setText] = useState(value?.text ?? "");
  const [from, setFrom] = useState(value?.from ?? "");
  const [to, setTo] = useState(value?.to ?? "");
  // Back/forward change the URL: the fields follow it.
  useEffect(() => {
    setModality(value?.modality ?? "");
    setText(value?.text ?? "");
    setFrom(value?.from ?? "");
    setTo(value?.to ?? "");
  }, [value?.modality, value?.text, value?.from, value?.to]);
  const submit = () => {
    const s: BrowseSearchParams = {};
    if (modality.trim()) s.modality = modality.trim().toUpperCase();
    if (text.trim()) s.text = text.trim();
    if (from) s.from = from;
    if (to) s.to = to;
    onSearch(Object.keys(s).length ? s : undefined);
  };
  return (
    <Card withBorder radius="md" padding="sm">
      <form onSubmit={(e) => { e.preventDefault(); submit(); }}>
        <Group align="flex-end" gap="sm" wrap="wrap">
          <TextInput label="Modality" placeholder="MR, CT…" w={110} value={modality} onChange={(e) => setModality(e.currentTarget.value)} />
          <TextInput label="Description contains" placeholder="study or series description" w={260} value={text} onChange={(e) => setText(e.currentTarget.value)} />
          <TextInput label="Study date from" type="date" w={160} value={from} onChange={(e) => setFrom(e.currentTarget.value)} />
          <TextInput label="until" type="date" w={160} value={to} onChange={(e) => setTo(e.currentTarget.value)} />
          <Button type="submit" leftSection={<IconSearch size={14} />}>Search all subjects</Button>
          {value && <Button variant="subtle" color="gray" onClick={() => onSearch(undefined)}>Clear search</Button>}
        </Group>
      </form>
    </Card>
  );
}

function SearchResults(props: {
  projectId: string;
  search: BrowseSearchParams;
  canDownload: boolean;
  selected: Map<string, Picked>;
  onPick: (items: { id: string; picked: Picked }[], on: boolean) => void;
  onOpen: (subject: string, experimentId: string) => void;
}) {
  const trpc = useTRPC();
  const [page, setPage] = useState(1);
  useEffect(() => setPage(1), [props.search.modality, props.search.text, props.search.from, props.search.to]);
  const q = useQuery(trpc.browse.search.queryOptions({ projectId: props.projectId, ...props.search, page, pageSize: PAGE_SIZE }, { placeholderData: keepPreviousData, retry: false }));
  const rows = q.data?.items ?? [];
  const all = q.data?.all ?? [];
  const allOn = all.length > 0 && all.every((a) => props.selected.has(a.id));
  const labelOf = new Map(rows.map((r) => [r.id, r.label]));
  return (
    <Stack>
      <Group justify="space-between">
        <Text size="sm" c="dimmed" data-testid="search-count">{q.data ? `${q.data.total.toLocaleString("en")} experiment${q.data.total === 1 ? "" : "s"} match` : ""}</Text>
        {props.canDownload && all.length > 0 && (
          <Button size="xs" variant="light" data-testid="select-all-results" onClick={() => props.onPick(all.map((a) => ({ id: a.id, picked: { label: labelOf.get(a.id) ?? a.id, bytes: a.bytes } })), !allOn)}>
            {allOn ? "Unselect the results" : `Select all ${all.length.toLocaleString("en")} results for download`}
          </Button>
        )}
      </Group>
      <ErrorAlert error={q.error} title="Could not search" />
      <Card withBorder padding={0} radius="md">
        <Table highlightOnHover verticalSpacing="sm" horizontalSpacing="md" data-testid="search-table">
          <Table.Thead>
            <Table.Tr>
              <Table.Th w={36} />
              <Table.Th>Subject</Table.Th>
              <Table.Th>Experiment</Table.Th>
              <Table.Th>Study date</Table.Th>
              <Table.Th>Modalities</Table.Th>
              <Table.Th>Scans</Table.Th>
              <Table.Th>Size</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {rows.map((e) => (
              <Table.Tr key={e.id}>
                <Table.Td>
                  {props.canDownload && <Checkbox aria-label={`Select ${e.label}`} checked={props.selected.has(e.id)} onChange={(ev) => props.onPick([{ id: e.id, picked: { label: e.label, bytes: e.bytes } }], ev.currentTarget.checked)} />}
                </Table.Td>
                <Table.Td><Text ff="monospace" size="sm">{e.subject}</Text></Table.Td>
                <Table.Td>
                  <Anchor component="button" ff="monospace" size="sm" onClick={() => props.onOpen(e.subject, e.id)}>{e.label}</Anchor>
                  {e.description && <Text size="xs" c="dimmed">{e.description}</Text>}
                </Table.Td>
                <Table.Td><Text size="sm">{dicomDate(e.studyDate) ?? "—"}</Text></Table.Td>
                <Table.Td><Group gap={4}>{e.modalities.map((m) => <Badge key={m} size="sm" variant="light">{m}</Badge>)}</Group></Table.Td>
                <Table.Td><Text size="sm">{e.scans}</Text></Table.Td>
                <Table.Td><Text size="sm">{humanBytes(e.bytes)}</Text></Table.Td>
              </Table.Tr>
            ))}
            {q.isPending && <SkeletonRows cols={7} />}
            {q.data && rows.length === 0 && <EmptyRow cols={7} text="No experiment matches this search." />}
          </Table.Tbody>
        </Table>
      </Card>
      <Pager total={q.data?.total ?? 0} page={page} setPage={setPage} />
    </Stack>
  );
}

/**
 * The larger view of a scan (?scan=ID): the rendered frame at 512 px with a slider over its
 * instances (or the frames of a multi-frame instance), why there is no image when there is none,
 * the stored de-identified header beside it, and a link to the full viewer.
 */
function ScanDrawer({ projectId, experimentId, scanId, onClose }: { projectId: string; experimentId: string; scanId: string; onClose: () => void }) {
  const trpc = useTRPC();
  const [index, setIndex] = useState(0);
  const [frame, setFrame] = useState(1);
  const [noImage, setNoImage] = useState<string | null>(null);
  const q = useQuery(trpc.browse.scanView.queryOptions({ projectId, scanId, index }, { placeholderData: keepPreviousData, retry: false }));
  const v = q.data;
  const instances = v?.instances ?? [];
  const inst = instances[Math.min(index, Math.max(0, instances.length - 1))];
  const multiFrame = instances.length === 1 && (inst?.frames ?? 1) > 1;
  const base = v ? `/dicomweb/projects/${encodeURIComponent(projectId)}/studies/${encodeURIComponent(v.scan.studyInstanceUid)}/series/${encodeURIComponent(v.scan.seriesInstanceUid)}` : "";
  const src = v && inst ? `${base}/instances/${encodeURIComponent(inst.sopInstanceUid)}${multiFrame ? `/frames/${frame}` : ""}/rendered?viewport=512,512` : null;
  useEffect(() => setNoImage(null), [src]);
  const steps = multiFrame ? inst!.frames : instances.length;
  const at = multiFrame ? frame : index + 1;
  const step = (n: number) => (multiFrame ? setFrame(n) : setIndex(n - 1));
  return (
    <Drawer opened onClose={onClose} position="right" size="min(1100px, 100%)" title={<Text fw={600}>{v ? `Scan ${v.scan.seriesNumber ?? "?"} · ${v.scan.modality ?? ""} · ${v.scan.description ?? "no description"}` : "Scan"}</Text>}>
      <ErrorAlert error={q.error} title="Cannot show this scan" />
      {v && (
        <Group align="flex-start" gap="lg" wrap="nowrap" data-testid="scan-view">
          <Stack gap="xs" w={512} style={{ flexShrink: 0 }}>
            <Box w={512} h={512} bg="#000" style={{ display: "flex", alignItems: "center", justifyContent: "center", borderRadius: 4 }}>
              {src && !noImage && (
                // eslint-disable-next-line @next/next/no-img-element
                <img src={src} alt={`Scan ${v.scan.seriesNumber ?? ""}, image ${at} of ${steps}`} data-testid="scan-image" style={{ maxWidth: 512, maxHeight: 512, display: "block" }} onError={() => void noImageReason(src).then(setNoImage)} />
              )}
              {(noImage || !instances.length) && (
                <Stack align="center" gap={4} p="md" data-testid="scan-no-image">
                  <IconPhotoOff size={32} color="var(--mantine-color-gray-5)" />
                  <Text size="sm" c="gray.3" ta="center">No image: {noImage ?? "this scan has no instances in the archive."}</Text>
                </Stack>
              )}
            </Box>
            {steps > 1 && (
              <Slider min={1} max={steps} value={at} onChange={step} label={(n) => `${multiFrame ? "frame" : "image"} ${n}`} aria-label={multiFrame ? "Frame" : "Image"} data-testid="scan-slider" />
            )}
            <Group justify="space-between">
              <Text size="xs" c="dimmed" data-testid="scan-position">
                {multiFrame ? `Frame ${frame} of ${steps}` : `Image ${at} of ${steps}`}{inst ? ` · ${inst.syntax}` : ""}
              </Text>
              <Anchor component={Link} href={viewerUrl(projectId, experimentId, v.scan.seriesInstanceUid)} size="sm">Open in the viewer <IconExternalLink size={12} /></Anchor>
            </Group>
          </Stack>
          <Stack gap={4} style={{ flex: 1, minWidth: 0 }}>
            <Text size="sm" fw={600}>Stored header (de-identified)</Text>
            <Text size="xs" c="dimmed">What the archive holds for this image, after de-identification.</Text>
            {v.header && "error" in v.header && <Text size="sm" c="red">{v.header.error}</Text>}
            {v.header && "rows" in v.header && (
              <ScrollArea h={560}>
                <Table fz="xs" striped data-testid="scan-header">
                  <Table.Tbody>
                    {v.header.rows.map((r, i) => (
                      <Table.Tr key={`${r.tag}-${i}`}>
                        <Table.Td ff="monospace" style={{ whiteSpace: "nowrap" }}>{r.tag}</Table.Td>
                        <Table.Td>{r.keyword}</Table.Td>
                        <Table.Td style={{ wordBreak: "break-all" }}>{r.value}</Table.Td>
                      </Table.Tr>
                    ))}
                  </Table.Tbody>
                </Table>
              </ScrollArea>
            )}
          </Stack>
        </Group>
      )}
    </Drawer>
  );
}
