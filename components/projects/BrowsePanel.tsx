"use client";
// The Browse tab: subjects → experiments → scans of the project's archive, with thumbnails, counts,
// sizes, dates, modalities, archive state and location; a selection; zip downloads with progress.
import { useEffect, useRef, useState } from "react";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import {
  ActionIcon, Alert, Anchor, Badge, Box, Breadcrumbs, Button, Card, Checkbox, Group, Pagination, Progress, SimpleGrid, Skeleton, Stack, Table, Text, TextInput, Tooltip,
} from "@mantine/core";
import { useDebouncedValue } from "@mantine/hooks";
import { notifications } from "@mantine/notifications";
import { IconDownload, IconExternalLink, IconLock, IconPhotoOff, IconSearch, IconX } from "@tabler/icons-react";
import { useTRPC } from "@/components/trpc";
import type { RouterOutputs } from "@/components/types";
import { ErrorAlert } from "@/components/ui/ErrorAlert";
import { dicomDate, downloadUrl, humanBytes, type ArchiveStatus } from "@/lib/archive/browse";
import { DownloadError, downloadZip, nativeDownload } from "./download-client";

type Overview = RouterOutputs["browse"]["overview"];
type Experiment = RouterOutputs["browse"]["experiments"]["items"][number];
type Scan = RouterOutputs["browse"]["scans"]["items"][number];

type View = { level: "subjects" } | { level: "experiments"; subject: string } | { level: "scans"; subject: string; experimentId: string; experimentLabel: string };

interface Picked {
  label: string;
  bytes: number;
}
interface Selection {
  experiments: Map<string, Picked>;
  scans: Map<string, Picked>;
}

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
  const [view, setView] = useState<View>({ level: "subjects" });
  const [selection, setSelection] = useState<Selection>({ experiments: new Map(), scans: new Map() });
  const [download, setDownload] = useState<ActiveDownload | null>(null);
  const [downloadError, setDownloadError] = useState<string | null>(null);

  const o = overview.data;
  const canDownload = Boolean(o?.canDownload);

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

  const togglePick = (kind: "experiments" | "scans", id: string, picked: Picked | null) =>
    setSelection((s) => {
      const m = new Map(s[kind]);
      if (picked) m.set(id, picked);
      else m.delete(id);
      return { ...s, [kind]: m };
    });
  const selectedCount = selection.experiments.size + selection.scans.size;
  const selectedBytes = [...selection.experiments.values(), ...selection.scans.values()].reduce((n, p) => n + p.bytes, 0);

  return (
    <Stack>
      <ErrorAlert error={overview.error} title="Could not load the archive" onRetry={() => void overview.refetch()} />
      {o ? <Summary o={o} /> : <Skeleton h={80} />}
      {o && !o.canDownload && (
        <Alert color="yellow" icon={<IconLock size={18} />} title="You can browse this project, but not download its files" data-testid="download-refused">
          {o.downloadRefusal}
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
            <Text size="sm">
              Selected: {selection.experiments.size > 0 && `${selection.experiments.size} experiment${selection.experiments.size === 1 ? "" : "s"}`}
              {selection.experiments.size > 0 && selection.scans.size > 0 && ", "}
              {selection.scans.size > 0 && `${selection.scans.size} scan${selection.scans.size === 1 ? "" : "s"}`} · {humanBytes(selectedBytes)}
            </Text>
            <Group gap="xs">
              <Button variant="subtle" size="xs" onClick={() => setSelection({ experiments: new Map(), scans: new Map() })}>Clear</Button>
              <Button
                size="xs"
                leftSection={<IconDownload size={14} />}
                disabled={!canDownload || Boolean(download)}
                onClick={() => void start("Selection", downloadUrl(projectId), { experiments: [...selection.experiments.keys()], scans: [...selection.scans.keys()] }, 0)}
              >
                Download selection (zip)
              </Button>
            </Group>
          </Group>
        </Card>
      )}
      <Breadcrumbs>
        <Anchor component="button" onClick={() => setView({ level: "subjects" })} c={view.level === "subjects" ? "dimmed" : undefined}>Subjects</Anchor>
        {view.level !== "subjects" && (
          <Anchor component="button" onClick={() => setView({ level: "experiments", subject: view.subject })} c={view.level === "experiments" ? "dimmed" : undefined} ff="monospace">
            {view.subject}
          </Anchor>
        )}
        {view.level === "scans" && <Text ff="monospace" size="sm">{view.experimentLabel}</Text>}
      </Breadcrumbs>
      {view.level === "subjects" && <SubjectsTable projectId={projectId} onOpen={(subject) => setView({ level: "experiments", subject })} />}
      {view.level === "experiments" && (
        <ExperimentsTable
          projectId={projectId}
          subject={view.subject}
          canDownload={canDownload}
          busy={Boolean(download)}
          selected={selection.experiments}
          onPick={(e, on) => togglePick("experiments", e.id!, on ? { label: e.label, bytes: e.bytes } : null)}
          onOpen={(e) => setView({ level: "scans", subject: view.subject, experimentId: e.id!, experimentLabel: e.label })}
          onDownload={(e) => void start(e.label, downloadUrl(projectId, { experiment: e.id! }), undefined, e.bytes)}
        />
      )}
      {view.level === "scans" && (
        <ScansTable
          projectId={projectId}
          experimentId={view.experimentId}
          canDownload={canDownload}
          busy={Boolean(download)}
          experimentSelected={selection.experiments.has(view.experimentId)}
          selected={selection.scans}
          onPick={(s, on) => togglePick("scans", s.id, on ? { label: `${view.experimentLabel} #${s.seriesNumber ?? "?"}`, bytes: s.bytes } : null)}
          onDownload={(s) => void start(`${view.experimentLabel} scan ${s.seriesNumber ?? ""}`, downloadUrl(projectId, { scan: s.id }), undefined, s.bytes)}
        />
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

function SubjectsTable({ projectId, onOpen }: { projectId: string; onOpen: (subject: string) => void }) {
  const trpc = useTRPC();
  const f = useFilter();
  const q = useQuery(trpc.browse.subjects.queryOptions({ projectId, search: f.debounced || undefined, page: f.page, pageSize: PAGE_SIZE }, { placeholderData: keepPreviousData }));
  const rows = q.data?.items ?? [];
  return (
    <Stack>
      <Group justify="space-between">
        <FilterInput value={f.search} onChange={f.setSearch} placeholder="Filter subjects by label" />
        <Text size="sm" c="dimmed">{q.data ? `${q.data.total} subject${q.data.total === 1 ? "" : "s"}` : ""}</Text>
      </Group>
      <ErrorAlert error={q.error} title="Could not load subjects" onRetry={() => void q.refetch()} />
      <Card withBorder padding={0} radius="md">
        <Table highlightOnHover verticalSpacing="sm" horizontalSpacing="md" data-testid="subjects-table">
          <Table.Thead>
            <Table.Tr>
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
                <Table.Td><Anchor component="button" ff="monospace" size="sm" onClick={() => onOpen(s.label)}>{s.label}</Anchor></Table.Td>
                <Table.Td>
                  <Text size="sm">{s.experiments}{s.otherExperiments > 0 && <Text span c="dimmed" size="xs"> ({s.otherExperiments} not local)</Text>}</Text>
                </Table.Td>
                <Table.Td><Text size="sm">{s.localExperiments ? s.instances : "—"}</Text></Table.Td>
                <Table.Td><Text size="sm">{s.localExperiments ? humanBytes(s.bytes) : "—"}</Text></Table.Td>
                <Table.Td><Text size="sm">{dicomDate(s.latestStudyDate) ?? "—"}</Text></Table.Td>
              </Table.Tr>
            ))}
            {q.isPending && <SkeletonRows cols={5} />}
            {q.data && rows.length === 0 && <EmptyRow cols={5} text={f.debounced ? `No subject label contains "${f.debounced}".` : "Nothing archived yet. Studies appear here once they are archived."} />}
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
                  {e.downloadable && e.id && (
                    <DownloadIcon label={`Download ${e.label} (${humanBytes(e.bytes)})`} disabled={!props.canDownload || props.busy} onClick={() => props.onDownload(e)} />
                  )}
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
              <Table.Th w={48} />
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
                <Table.Td><Thumbnail src={s.thumbnailUrl} alt={`Scan ${s.seriesNumber ?? ""}`} /></Table.Td>
                <Table.Td><Text size="sm">{s.seriesNumber ?? "—"}</Text></Table.Td>
                <Table.Td>{s.modality ? <Badge size="sm" variant="light">{s.modality}</Badge> : "—"}</Table.Td>
                <Table.Td><Text size="sm">{s.description || <Text span c="dimmed" size="sm">no description</Text>}</Text></Table.Td>
                <Table.Td><Text size="sm">{s.instances}</Text></Table.Td>
                <Table.Td><Text size="sm">{humanBytes(s.bytes)}</Text></Table.Td>
                <Table.Td>
                  <DownloadIcon label={`Download scan ${s.seriesNumber ?? ""} (${humanBytes(s.bytes)})`} disabled={!props.canDownload || props.busy} onClick={() => props.onDownload(s)} />
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

function DownloadIcon({ label, disabled, onClick }: { label: string; disabled: boolean; onClick: () => void }) {
  return (
    <Tooltip label={label}>
      <ActionIcon variant="subtle" aria-label={label} disabled={disabled} onClick={onClick}>
        <IconDownload size={16} />
      </ActionIcon>
    </Tooltip>
  );
}

/** The rendered thumbnail, or a placeholder when it cannot be shown. */
function Thumbnail({ src, alt }: { src: string; alt: string }) {
  const [failed, setFailed] = useState(false);
  const img = useRef<HTMLImageElement>(null);
  useEffect(() => {
    // An image that failed before hydration attached onError.
    if (img.current?.complete && img.current.naturalWidth === 0) setFailed(true);
  }, []);
  if (failed) {
    return (
      <Tooltip label="No preview for this scan">
        <Box w={64} h={64} bg="var(--mantine-color-gray-1)" style={{ display: "flex", alignItems: "center", justifyContent: "center", borderRadius: 4 }} data-testid="thumbnail-placeholder">
          <IconPhotoOff size={22} color="var(--mantine-color-gray-5)" />
        </Box>
      </Tooltip>
    );
  }
  return (
    // eslint-disable-next-line @next/next/no-img-element
    <img ref={img} src={src} alt={alt} width={64} height={64} loading="lazy" onError={() => setFailed(true)} style={{ objectFit: "contain", background: "#000", borderRadius: 4, display: "block" }} />
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
