"use client";
// The plain viewer of an experiment from Browse: one series (defaultLayout), the series of the
// experiment side by side (1×N, at most 4), or one series as MPR (acquired + axial, sagittal,
// coronal). Same Viewer component as the task page; annotations here are not saved, but can be
// read as JSON (the same JSON the task page stores in drafts). The experiment's DICOM SR
// measurements (e.g. exported task results) are drawn locked, each report in a colour of its own,
// and its DICOM SEGs shown as labelmaps, on the series they reference.
import { useEffect, useMemo, useRef, useState } from "react";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useQuery } from "@tanstack/react-query";
import { Anchor, Box, Breadcrumbs, Button, Code, Group, Modal, ScrollArea, SegmentedControl, Select, Skeleton, Stack, Text } from "@mantine/core";
import { useTRPC } from "@/components/trpc";
import { ErrorAlert } from "@/components/ui/ErrorAlert";
import { ViewerLayout, defaultLayout } from "@/lib/viewer/layout";
import type { RouterOutputs } from "@/components/types";
import { ALL_TOOLS, type SegmentLabel, type ViewerAnnotations } from "@/lib/viewer/viewer";
import { preloadViewer, ViewerLazy, type SeriesRef, type ViewerApi } from "./index";
import type { ReferenceAnnotations } from "./Viewer";

// The viewer's code starts loading when this page's code runs (in the browser), before its first render.
if (typeof window !== "undefined") preloadViewer();

/** Modalities with nothing to show as images (skipped when the whole experiment is shown). */
const NOT_IMAGES = new Set(["SR", "SEG", "RTSTRUCT", "RTPLAN", "PR", "KO", "DOC", "ECG", "ANN", "REG"]);
const REPORT_COLORS = ["rgb(250, 176, 5)", "rgb(34, 139, 230)", "rgb(230, 73, 128)", "rgb(64, 192, 87)"];
const DEFAULT_LABELS: SegmentLabel[] = [{ value: 1, name: "Finding" }, { value: 2, name: "Other" }];

export function BrowseViewerPage(props: { projectId: string; experimentId: string; series: string | null; layout: string | null; initialScans?: RouterOutputs["browse"]["scans"] | null }) {
  const { projectId, experimentId } = props;
  const trpc = useTRPC();
  const router = useRouter();
  const q = useQuery({ ...trpc.browse.scans.queryOptions({ projectId, experimentId, page: 1, pageSize: 200 }, { retry: false }), ...(props.initialScans ? { initialData: props.initialScans } : {}) });
  const hasResults = Boolean(q.data?.items.some((s) => s.modality === "SR" || s.modality === "SEG"));
  const results = useQuery(trpc.browse.archivedResults.queryOptions({ projectId, experimentId }, { retry: false, enabled: hasResults, refetchOnWindowFocus: false }));
  const apiRef = useRef<ViewerApi | null>(null);
  const [json, setJson] = useState<ViewerAnnotations | null>(null);

  const mode = props.layout === "mpr" ? "mpr" : props.series ? "series" : "all";
  const built = useMemo(() => {
    if (!q.data) return null;
    const exp = q.data.experiment;
    const refOf = (seriesInstanceUid: string): SeriesRef => ({ projectId, studyInstanceUid: exp.studyInstanceUid, seriesInstanceUid, subjectLabel: exp.subject, experimentLabel: exp.label });
    const images = q.data.items.filter((s) => !NOT_IMAGES.has(s.modality ?? ""));
    const chosen = props.series ? q.data.items.find((s) => s.seriesInstanceUid === props.series) : undefined;
    if (props.series && !chosen) return { error: "This experiment has no such series. Go back to Browse and pick one of its scans." } as const;
    const scans: Record<string, SeriesRef> = {};
    let layout: ViewerLayout;
    if (mode === "mpr" && chosen) {
      scans.s = refOf(chosen.seriesInstanceUid);
      layout = ViewerLayout.parse({
        rows: 2,
        columns: 2,
        viewports: [
          { id: "acquired", scan: "s", orientation: "acquired" },
          { id: "axial", scan: "s", orientation: "axial", sync: [{ kind: "window", group: "w" }] },
          { id: "sagittal", scan: "s", orientation: "sagittal", sync: [{ kind: "window", group: "w" }] },
          { id: "coronal", scan: "s", orientation: "coronal", sync: [{ kind: "window", group: "w" }] },
        ],
      });
    } else if (chosen) {
      scans.s = refOf(chosen.seriesInstanceUid);
      layout = defaultLayout("s");
    } else {
      const shown = (images.length ? images : q.data.items).slice(0, 4);
      if (shown.length === 0) return { error: "This experiment has no scans in the local archive." } as const;
      shown.forEach((s, i) => (scans[`s${i + 1}`] = refOf(s.seriesInstanceUid)));
      layout = ViewerLayout.parse({ rows: 1, columns: shown.length, viewports: shown.map((_, i) => ({ id: `v${i + 1}`, scan: `s${i + 1}` })) });
    }
    return { layout, scans, exp } as const;
  }, [q.data, props.series, mode, projectId]);

  // The series' metadata (and the stacks' frames) as soon as the scans are known.
  useEffect(() => {
    if (built && !("error" in built)) preloadViewer(Object.values(built.scans), { layout: built.layout, scans: built.scans });
  }, [built]);

  const shownResults = useMemo(() => {
    if (!built || "error" in built || !results.data) return null;
    const keyOf = new Map(Object.entries(built.scans).map(([key, ref]) => [ref.seriesInstanceUid, key]));
    const references: ReferenceAnnotations[] = results.data.reports.map((r, i) => ({
      key: `sr${i + 1}`,
      name: r.seriesDescription ?? `Report ${i + 1}`,
      color: REPORT_COLORS[i % REPORT_COLORS.length]!,
      measurements: r.measurements.flatMap((m) => (keyOf.has(m.ref.scan) ? [{ ...m, ref: { ...m.ref, scan: keyOf.get(m.ref.scan)! } }] : [])),
    }));
    const segs = results.data.segmentations.filter((x) => keyOf.has(x.labelmap.scan));
    const initial: ViewerAnnotations = { version: 1, measurements: [], labelmaps: segs.map((x) => ({ ...x.labelmap, scan: keyOf.get(x.labelmap.scan)! })) };
    return { references, initial, labels: segs[0]?.labels.length ? segs[0].labels : DEFAULT_LABELS, shown: references.reduce((n, r) => n + r.measurements.length, 0), segments: segs.length };
  }, [built, results.data]);

  const base = `/projects/${encodeURIComponent(projectId)}/experiments/${encodeURIComponent(experimentId)}/view`;
  const go = (series: string | null, layout: string | null) => {
    const sp = new URLSearchParams();
    if (series) sp.set("series", series);
    if (layout) sp.set("layout", layout);
    router.push(`${base}${sp.size ? `?${sp}` : ""}`);
  };

  const crumbs = (
    <Breadcrumbs>
      <Anchor component={Link} href="/projects">Projects</Anchor>
      <Anchor component={Link} href={`/projects/${encodeURIComponent(projectId)}?tab=browse`} ff="monospace">{projectId}</Anchor>
      {q.data && <Text ff="monospace">{q.data.experiment.subject}</Text>}
      {q.data && <Text ff="monospace">{q.data.experiment.label}</Text>}
      <Text>Viewer</Text>
    </Breadcrumbs>
  );
  if (q.isPending) return <Stack>{crumbs}<Skeleton h={600} /></Stack>;
  if (q.error) return <Stack>{crumbs}<ErrorAlert error={q.error} title="Cannot open this experiment" /></Stack>;
  if (!built || "error" in built) return <Stack>{crumbs}<Text c="red">{built?.error}</Text></Stack>;

  return (
    <Stack gap="sm">
      <Group justify="space-between">
        {crumbs}
        <Group gap="xs">
          <Select
            size="xs"
            w={260}
            aria-label="Series"
            value={props.series ?? "all"}
            onChange={(v) => go(v === "all" ? null : v, v === "all" ? null : mode === "mpr" ? "mpr" : null)}
            data={[{ value: "all", label: "All series side by side" }, ...q.data.items.map((s) => ({ value: s.seriesInstanceUid, label: `#${s.seriesNumber ?? "–"} ${s.modality ?? ""} ${s.description ?? ""}`.trim() }))]}
          />
          {props.series && (
            <SegmentedControl size="xs" value={mode} onChange={(v) => go(props.series, v === "mpr" ? "mpr" : null)} data={[{ value: "series", label: "Stack" }, { value: "mpr", label: "MPR" }]} aria-label="Layout" />
          )}
          <Button size="xs" variant="default" onClick={() => setJson(apiRef.current?.getAnnotations() ?? null)}>Annotations (JSON)</Button>
        </Group>
      </Group>
      {shownResults && (shownResults.shown > 0 || shownResults.segments > 0) && (
        <Group gap="md" data-testid="archived-results">
          {shownResults.references.filter((r) => r.measurements.length).map((r) => (
            <Group key={r.key} gap={6}>
              <Box w={12} h={12} style={{ borderRadius: 3, background: r.color }} />
              <Text size="xs">{r.name}: {r.measurements.length} measurement{r.measurements.length === 1 ? "" : "s"}</Text>
            </Group>
          ))}
          {shownResults.segments > 0 && <Text size="xs">{shownResults.segments} segmentation{shownResults.segments === 1 ? "" : "s"} as labelmaps</Text>}
        </Group>
      )}
      {results.error && results.error.data?.code !== "FORBIDDEN" && <ErrorAlert error={results.error} title="The experiment's measurements and segmentations could not be read" />}
      <Box h="calc(100vh - 170px)" mih={420}>
        {hasResults && results.isPending ? (
          <Skeleton h="100%" />
        ) : (
          <ViewerLazy
            key={`${mode}:${props.series ?? ""}:${shownResults ? "results" : ""}`}
            layout={built.layout}
            scans={built.scans}
            tools={ALL_TOOLS}
            labels={shownResults?.labels ?? DEFAULT_LABELS}
            initialAnnotations={shownResults?.initial}
            referenceAnnotations={shownResults?.references}
            apiRef={apiRef}
          />
        )}
      </Box>
      <Modal opened={json !== null} onClose={() => setJson(null)} title="Annotations as JSON" size="xl">
        <Text size="sm" c="dimmed" mb="xs">What a task page saves in its draft; not saved from this viewer.</Text>
        <ScrollArea h={400}>
          <Code block data-testid="annotations-json">{JSON.stringify(json, null, 2)}</Code>
        </ScrollArea>
      </Modal>
    </Stack>
  );
}
