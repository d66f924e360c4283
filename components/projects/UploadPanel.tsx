"use client";
// Browser upload into a project: files, folders (chosen or dropped) and zip archives, one request
// per file (a few at a time) to POST /api/projects/{id}/upload, with per-file progress, cancel,
// retry, and a summary that follows de-identification live through upload.batch.
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { Badge, Button, Card, Group, Progress, SimpleGrid, Stack, Table, Text, Title } from "@mantine/core";
import { IconFileUpload, IconFolderUp, IconPlayerStop, IconRefresh, IconUpload } from "@tabler/icons-react";
import { useTRPC } from "@/components/trpc";
import { ErrorAlert } from "@/components/ui/ErrorAlert";
import {
  contentTypeForFile,
  isIgnoredLocalFile,
  tallyUpload,
  uploadErrorSchema,
  uploadResponseSchema,
  type UploadResult,
} from "@/lib/intake/upload";

/** Requests in flight at once. */
const PARALLEL = 3;
/** Rows shown; the totals always cover every file. */
const MAX_ROWS = 200;

type State = "queued" | "uploading" | "done" | "failed" | "cancelled";

interface Item {
  key: number;
  file: File;
  /** Path relative to what was chosen or dropped (folder/…/file). */
  name: string;
  zip: boolean;
  state: State;
  loaded: number;
  results: UploadResult[];
  error: string | null;
  xhr: XMLHttpRequest | null;
}

// Folder drops: DataTransferItem.webkitGetAsEntry (the File System Entries API).
async function filesOfEntry(entry: FileSystemEntry, out: { file: File; name: string }[]) {
  if (entry.isFile) {
    const file = await new Promise<File>((ok, err) => (entry as FileSystemFileEntry).file(ok, err));
    out.push({ file, name: entry.fullPath.replace(/^\//, "") });
  } else if (entry.isDirectory) {
    const reader = (entry as FileSystemDirectoryEntry).createReader();
    // readEntries answers in chunks (100 in Chromium) until it answers with none.
    for (;;) {
      const batch = await new Promise<FileSystemEntry[]>((ok, err) => reader.readEntries(ok, err));
      if (!batch.length) break;
      for (const e of batch) await filesOfEntry(e, out);
    }
  }
}

const mb = (n: number) => (n / 1024 / 1024).toFixed(n < 10 * 1024 * 1024 ? 1 : 0);
const size = (n: number) => (n === 0 ? "0 KB" : n < 1024 * 1024 ? `${Math.max(1, Math.round(n / 1024))} KB` : `${mb(n)} MB`);

export function UploadPanel({ projectId }: { projectId: string }) {
  const trpc = useTRPC();
  const [batchId, setBatchId] = useState(() => crypto.randomUUID());
  const items = useRef<Item[]>([]);
  const nextKey = useRef(0);
  const [, setTick] = useState(0);
  const renderPending = useRef(false);
  const [dragging, setDragging] = useState(false);
  const fileInput = useRef<HTMLInputElement>(null);
  const folderInput = useRef<HTMLInputElement>(null);

  // Thousands of progress events: re-render at most ten times a second.
  const rerender = useCallback(() => {
    if (renderPending.current) return;
    renderPending.current = true;
    setTimeout(() => {
      renderPending.current = false;
      setTick((t) => t + 1);
    }, 100);
  }, []);

  const pump = useCallback(() => {
    const all = items.current;
    let running = all.filter((i) => i.state === "uploading").length;
    for (const item of all) {
      if (running >= PARALLEL) break;
      if (item.state !== "queued") continue;
      running++;
      send(item);
    }
    rerender();

    function send(item: Item) {
      item.state = "uploading";
      item.loaded = 0;
      item.error = null;
      item.results = [];
      const xhr = new XMLHttpRequest();
      item.xhr = xhr;
      xhr.open("POST", `/api/projects/${encodeURIComponent(projectId)}/upload?batch=${batchId}`);
      xhr.setRequestHeader("content-type", item.zip ? "application/zip" : "application/dicom");
      xhr.setRequestHeader("x-atrium-file-name", encodeURIComponent(item.name));
      xhr.upload.onprogress = (e) => {
        item.loaded = e.loaded;
        rerender();
      };
      const finish = (state: State, error: string | null) => {
        item.state = state;
        item.error = error;
        item.xhr = null;
        pump();
      };
      xhr.onload = () => {
        let body: unknown = null;
        try {
          body = JSON.parse(xhr.responseText);
        } catch {
          // not JSON: a proxy's page or an empty answer
        }
        if (xhr.status === 200) {
          const ok = uploadResponseSchema.safeParse(body);
          if (ok.success) {
            item.loaded = item.file.size;
            item.results = ok.data.results;
            return finish("done", null);
          }
        }
        const err = uploadErrorSchema.safeParse(body);
        finish("failed", err.success ? err.data.error : `The server answered ${xhr.status}${xhr.statusText ? ` ${xhr.statusText}` : ""}; try again.`);
      };
      xhr.onerror = () => finish("failed", "The connection failed before the server answered; check your network and retry.");
      xhr.onabort = () => finish("cancelled", "Cancelled.");
      xhr.send(item.file);
    }
  }, [batchId, projectId, rerender]);

  const add = useCallback(
    (files: { file: File; name: string }[]) => {
      for (const { file, name } of files) {
        if (isIgnoredLocalFile(name)) continue;
        items.current.push({
          key: nextKey.current++,
          file,
          name,
          zip: contentTypeForFile(name, file.type) === "application/zip",
          state: "queued",
          loaded: 0,
          results: [],
          error: null,
          xhr: null,
        });
      }
      pump();
    },
    [pump],
  );

  const fromInput = (list: FileList | null) => {
    if (!list) return;
    add([...list].map((file) => ({ file, name: file.webkitRelativePath || file.name })));
  };

  const onDrop = async (e: React.DragEvent) => {
    e.preventDefault();
    setDragging(false);
    const entries = [...e.dataTransfer.items]
      .map((i) => i.webkitGetAsEntry?.() ?? null)
      .filter((x): x is FileSystemEntry => x !== null);
    if (!entries.length) return fromInput(e.dataTransfer.files);
    const out: { file: File; name: string }[] = [];
    for (const entry of entries) await filesOfEntry(entry, out);
    add(out);
  };

  const cancel = () => {
    for (const i of items.current) {
      if (i.state === "queued") {
        i.state = "cancelled";
        i.error = "Cancelled.";
      }
    }
    for (const i of items.current) i.xhr?.abort();
    rerender();
  };
  const retry = () => {
    for (const i of items.current) if (i.state === "failed" || i.state === "cancelled") i.state = "queued";
    pump();
  };
  const startOver = () => {
    cancel();
    items.current = [];
    setBatchId(crypto.randomUUID());
  };

  // Leaving the tab stops the upload: nothing queued starts, what is in flight is aborted (the server keeps nothing of it).
  useEffect(
    () => () => {
      for (const i of items.current) if (i.state === "queued") i.state = "cancelled";
      for (const i of items.current) i.xhr?.abort();
    },
    [],
  );

  const all = items.current;
  const busy = all.some((i) => i.state === "uploading" || i.state === "queued");
  const recorded = all.flatMap((i) => i.results.flatMap((r) => (r.instanceId ? [r.instanceId] : [])));
  const live = useQuery(
    trpc.upload.batch.queryOptions(
      { projectId, batchId },
      {
        enabled: recorded.length > 0,
        // Until every recorded file is known to the batch and none is still being de-identified.
        refetchInterval: (q) => (busy || !q.state.data?.counts.done || q.state.data.counts.total < recorded.length ? 2_000 : false),
      },
    ),
  );
  const liveMap = useMemo(() => new Map((live.data?.instances ?? []).map((i) => [i.id, i])), [live.data]);

  const totals = {
    files: all.length,
    bytes: all.reduce((s, i) => s + i.file.size, 0),
    sent: all.reduce((s, i) => s + (i.state === "done" ? i.file.size : i.state === "uploading" ? i.loaded : 0), 0),
    done: all.filter((i) => i.state === "done").length,
    uploading: all.filter((i) => i.state === "uploading").length,
    queued: all.filter((i) => i.state === "queued").length,
    failed: all.filter((i) => i.state === "failed").length,
    cancelled: all.filter((i) => i.state === "cancelled").length,
  };
  const results = all.flatMap((i) => i.results);
  const tally = tallyUpload(
    results,
    liveMap,
    all.filter((i) => i.state === "failed").map((i) => i.error ?? "failed"),
  );
  const stored = tally.processing + tally.deidentified + tally.duplicate + tally.quarantined + tally.review;

  // Rows: problems and what is moving first, then the latest; capped.
  const rank = (i: Item) => (i.state === "failed" ? 0 : i.state === "uploading" ? 1 : i.results.some((r) => r.outcome !== "accepted") ? 2 : i.state === "cancelled" ? 3 : 4);
  const rows = all.length <= MAX_ROWS ? all : [...all].sort((a, b) => rank(a) - rank(b) || b.key - a.key).slice(0, MAX_ROWS);

  const rowStatus = (i: Item) => {
    if (i.state === "queued") return <Badge variant="light" color="gray">queued</Badge>;
    if (i.state === "uploading") return <Badge variant="light" color="blue">{i.loaded >= i.file.size ? "processing" : "uploading"}</Badge>;
    if (i.state === "cancelled") return <Badge variant="light" color="gray">cancelled</Badge>;
    if (i.state === "failed") return <Badge variant="light" color="red">failed</Badge>;
    if (i.zip) return <Badge variant="light" color="teal">zip: {i.results.length} files</Badge>;
    const r = i.results[0];
    if (!r) return null;
    if (r.outcome === "skipped") return <Badge variant="light" color="yellow">skipped</Badge>;
    if (r.outcome === "failed") return <Badge variant="light" color="red">failed</Badge>;
    const status = (r.instanceId && liveMap.get(r.instanceId)?.status) || (r.outcome === "quarantined" ? "quarantined" : "received");
    const color = { received: "blue", deidentified: "teal", duplicate: "gray", quarantined: "red", skipped: "yellow", review: "orange" }[status];
    return <Badge variant="light" color={color}>{status === "received" ? "de-identifying" : status === "deidentified" ? "de-identified" : status === "review" ? "needs review" : status}</Badge>;
  };
  const rowReason = (i: Item) => {
    if (i.error && i.state !== "cancelled") return i.error;
    if (i.zip) {
      const t = tallyUpload(i.results, liveMap);
      const parts = [
        [t.deidentified, "de-identified"],
        [t.processing, "de-identifying"],
        [t.duplicate, "duplicate"],
        [t.skipped, "skipped"],
        [t.quarantined, "quarantined"],
        [t.review, "need pixel review"],
        [t.failed, "failed"],
      ] as const;
      return parts.filter(([n]) => n > 0).map(([n, what]) => `${n} ${what}`).join(" · ") || "no files in the archive";
    }
    const r = i.results[0];
    if (!r) return null;
    const liveReason = r.instanceId ? liveMap.get(r.instanceId)?.reason : null;
    return liveReason ?? r.reason;
  };

  return (
    <Stack gap="lg">
      <Card
        withBorder
        radius="md"
        padding="xl"
        data-testid="upload-dropzone"
        onDragOver={(e) => {
          e.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={(e) => void onDrop(e)}
        style={{ borderStyle: "dashed", borderWidth: 2, borderColor: dragging ? "var(--mantine-color-blue-6)" : undefined, background: dragging ? "var(--mantine-color-blue-0)" : undefined }}
      >
        <Stack align="center" gap="sm">
          <IconUpload size={36} stroke={1.5} color="var(--mantine-color-dimmed)" />
          <Text fw={600}>Drop DICOM files, folders or zip archives here</Text>
          <Text size="sm" c="dimmed" ta="center" maw={560}>
            Each file is stored and recorded before it counts as received, then de-identified with this project&apos;s profile. Files
            that are not DICOM are skipped and listed with the reason.
          </Text>
          <Group>
            <Button leftSection={<IconFileUpload size={16} />} variant="light" onClick={() => fileInput.current?.click()}>Choose files</Button>
            <Button leftSection={<IconFolderUp size={16} />} variant="light" onClick={() => folderInput.current?.click()}>Choose folder</Button>
          </Group>
          <input
            ref={fileInput}
            type="file"
            multiple
            hidden
            data-testid="upload-files-input"
            onChange={(e) => {
              fromInput(e.currentTarget.files);
              e.currentTarget.value = "";
            }}
          />
          <input
            ref={folderInput}
            type="file"
            multiple
            hidden
            data-testid="upload-folder-input"
            {...({ webkitdirectory: "" } as Record<string, string>)}
            onChange={(e) => {
              fromInput(e.currentTarget.files);
              e.currentTarget.value = "";
            }}
          />
        </Stack>
      </Card>

      {all.length > 0 && (
        <Card withBorder radius="md" padding="lg" data-testid="upload-summary">
          <Group justify="space-between" mb="sm">
            <Title order={5}>Summary</Title>
            <Text size="xs" c="dimmed">
              {tally.processing > 0 ? "De-identification is running; this updates by itself." : busy || stored === 0 ? "" : "All received files are processed."}
            </Text>
          </Group>
          <ErrorAlert error={live.error} title="Could not follow de-identification" onRetry={() => void live.refetch()} />
          <SimpleGrid cols={{ base: 2, sm: 4, lg: 7 }}>
            <SummaryStat id="stored" label="Received" value={stored} />
            <SummaryStat id="deidentified" label="De-identified" value={tally.deidentified} color="teal" />
            <SummaryStat id="processing" label="In progress" value={tally.processing} color="blue" />
            <SummaryStat id="duplicate" label="Duplicates" value={tally.duplicate} />
            <SummaryStat id="skipped" label="Skipped" value={tally.skipped} color={tally.skipped ? "yellow.8" : undefined} />
            <SummaryStat id="quarantined" label="Quarantined" value={tally.quarantined} color={tally.quarantined ? "red" : undefined} />
            <SummaryStat id="review" label="Needs pixel review" value={tally.review} color={tally.review ? "orange" : undefined} />
          </SimpleGrid>
          {tally.failed > 0 && <Text size="sm" c="red" mt="sm">{tally.failed} file{tally.failed === 1 ? "" : "s"} not received: retry them, or see the reasons below.</Text>}
          {tally.reasons.length > 0 && (
            <Table mt="md" fz="sm" data-testid="upload-reasons">
              <Table.Tbody>
                {tally.reasons.slice(0, 20).map((r) => (
                  <Table.Tr key={`${r.outcome}:${r.reason}`}>
                    <Table.Td style={{ width: 1, whiteSpace: "nowrap" }}><Text size="sm" fw={700} c={r.outcome === "skipped" ? "yellow.8" : "red"}>{r.count.toLocaleString()} ×</Text></Table.Td>
                    <Table.Td style={{ width: 1, whiteSpace: "nowrap" }}><Text size="sm" fw={500}>{r.outcome}</Text></Table.Td>
                    <Table.Td><Text size="sm">{r.reason}</Text></Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          )}
        </Card>
      )}
      {all.length > 0 && (
        <Card withBorder radius="md" padding="lg" data-testid="upload-progress">
          <Group justify="space-between" mb="xs">
            <Title order={5}>
              {busy ? "Uploading" : "Uploaded"} {totals.done.toLocaleString()} of {totals.files.toLocaleString()} file{totals.files === 1 ? "" : "s"}
            </Title>
            <Group gap="xs">
              {busy && <Button size="xs" color="red" variant="light" leftSection={<IconPlayerStop size={14} />} onClick={cancel}>Cancel</Button>}
              {!busy && totals.failed + totals.cancelled > 0 && (
                <Button size="xs" variant="light" leftSection={<IconRefresh size={14} />} onClick={retry}>
                  Retry {totals.failed + totals.cancelled} failed
                </Button>
              )}
              {!busy && <Button size="xs" variant="subtle" onClick={startOver}>New upload</Button>}
            </Group>
          </Group>
          <Progress value={totals.bytes ? (100 * totals.sent) / totals.bytes : 0} size="lg" animated={busy} aria-label="Total upload progress" />
          <Text size="xs" c="dimmed" mt={4} data-testid="upload-totals">
            {size(totals.sent)} of {size(totals.bytes)} · {totals.uploading} uploading · {totals.queued} queued · {totals.failed} failed
            {totals.cancelled ? ` · ${totals.cancelled} cancelled` : ""}
          </Text>
          <div style={{ maxHeight: 560, overflowY: "auto", marginTop: "var(--mantine-spacing-md)" }}>
          <Table stickyHeader verticalSpacing={4} fz="sm" data-testid="upload-files">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>File</Table.Th>
                <Table.Th w={90} ta="right">Size</Table.Th>
                <Table.Th w={180}>Progress</Table.Th>
                <Table.Th w={150}>Status</Table.Th>
                <Table.Th>Reason</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {rows.map((i) => (
                <Table.Tr key={i.key} data-testid="upload-row">
                  <Table.Td style={{ wordBreak: "break-all" }}>{i.name}</Table.Td>
                  <Table.Td ta="right" style={{ whiteSpace: "nowrap" }}>{size(i.file.size)}</Table.Td>
                  <Table.Td>
                    <Progress
                      value={i.file.size ? (100 * (i.state === "done" ? i.file.size : i.loaded)) / i.file.size : i.state === "done" ? 100 : 0}
                      color={i.state === "failed" ? "red" : i.state === "done" ? "teal" : "blue"}
                      aria-label={`Upload progress of ${i.name}`}
                    />
                  </Table.Td>
                  <Table.Td>{rowStatus(i)}</Table.Td>
                  <Table.Td><Text size="xs" c="dimmed">{rowReason(i)}</Text></Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
          </div>
          {rows.length < all.length && (
            <Text size="xs" c="dimmed" mt="xs">Showing {rows.length} of {all.length.toLocaleString()} files (problems first); the totals count them all.</Text>
          )}
        </Card>
      )}

    </Stack>
  );
}

function SummaryStat({ id, label, value, color }: { id: string; label: string; value: number; color?: string }) {
  return (
    <Card withBorder radius="md" padding="sm" data-testid={`upload-count-${id}`}>
      <Text size="xs" tt="uppercase" fw={600} c="dimmed">{label}</Text>
      <Text size="xl" fw={700} c={color} data-testid={`upload-count-${id}-value`}>{value.toLocaleString()}</Text>
    </Card>
  );
}
