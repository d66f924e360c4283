"use client";
// The viewer: cornerstone3D viewports laid out as a ViewerLayout says (lib/viewer/layout), each
// showing the series its scan resolves to, as a stack ("acquired") or an MPR reformat of a volume;
// window presets, sync groups, a progress bar per viewport while frames stream, reset to the
// template's view, the tools it is given with hotkeys and a help overlay, and annotations readable
// and restorable as JSON (lib/viewer/viewer: ViewerAnnotations). Client-only: pages load it on
// demand through ./index (ViewerLazy, which shows ViewerShell meanwhile), so cornerstone stays out
// of other pages.
import { memo, useCallback, useEffect, useId, useMemo, useRef, useState, useSyncExternalStore, type CSSProperties, type RefObject } from "react";
import { Badge, Box, Group, Kbd, Modal, Progress, Stack, Table, Text } from "@mantine/core";
import type { ViewerLayout, ViewportSpec, WindowPreset } from "@/lib/viewer/layout";
import {
  ACTION_LABELS, EMPTY_ANNOTATIONS, Measurement, ViewerAnnotations, decodeRuns, encodeRuns, labelColor, overlayLabels, presetWindow, rangeToWindow,
  viewportText, windowToRange, type LabelOverlay, type SegmentLabel, type ViewerAction, type ViewerTool,
} from "@/lib/viewer/viewer";
import { labelsOnImage, readLabelVolume, type LabelVolume } from "@/lib/viewer/nifti-overlay";
import { core, decodedFrameImages, initCornerstone, loadImage, loadSeries, streamImages, tools, type LoadedSeries, type SeriesRef } from "./cornerstone";
import { dicomwebRoot, fetchSeriesFrames, frameAhead, releaseSeriesFrames, seriesKeyOf, seriesMetadata, stackOnlySeries } from "./series-metadata";
import { cellStyle, FirstImage, firstImageUrl, gridStyle, hasOverlays, INITIAL_CONTROLS, OverlaysLoading, placeCells, useOfferedTools, ViewerToolbar, type Cell, type Primary } from "./ViewerShell";

export type { SeriesRef } from "./cornerstone";

export interface ViewerApi {
  /** The annotations drawn so far (measurements and brush labelmaps), as JSON. */
  getAnnotations(): ViewerAnnotations;
  /** Replaces the annotations with these (e.g. a draft being restored). */
  setAnnotations(a: ViewerAnnotations): void;
  /** Every viewport (or one) back to the template's view: camera, slice, window. */
  reset(viewportId?: string): void;
  /** Per viewport: images loaded of total, whether the first image is drawn, and any message. */
  status(): Record<string, ViewportStatus>;
}

export interface ViewportStatus {
  loaded: number;
  failed: number;
  total: number;
  firstImageAt: number | null;
  allLoadedAt: number | null;
  message: string | null;
}

export interface ViewerProps {
  layout: ViewerLayout;
  /** The series each of the layout's scans resolves to; null: the scan is missing (the viewport says so). */
  scans: Record<string, SeriesRef | null | undefined>;
  /** Annotation tools offered (navigation is always there). Default: none. */
  tools?: ViewerTool[];
  /** Hotkeys replacing the defaults (DEFAULT_HOTKEYS). */
  hotkeys?: Partial<Record<ViewerAction, string>>;
  /** Labels of the brush and of labelled points. */
  labels?: SegmentLabel[];
  initialAnnotations?: ViewerAnnotations;
  /** Label overlays (a task template's pipeline results), shown read-only in the viewports that list them; never part of the annotations. */
  overlays?: LabelOverlay[];
  /** Other readers' measurements (an adjudication's reads): shown locked, each reader in a colour of their own, never part of this viewer's annotations. */
  referenceAnnotations?: ReferenceAnnotations[];
  readOnly?: boolean;
  /** Called (debounced) after each change of the annotations. */
  onAnnotationsChange?: (a: ViewerAnnotations) => void;
  /** Receives the viewer's API once it is ready (and null when it unmounts). */
  apiRef?: RefObject<ViewerApi | null> | ((api: ViewerApi | null) => void);
  height?: CSSProperties["height"];
}

export interface ReferenceAnnotations {
  key: string;
  name: string;
  /** CSS colour, e.g. "rgb(230, 73, 128)". */
  color: string;
  measurements: Measurement[];
}
/** Annotation UIDs of reference annotations start with this. */
const REFERENCE_UID = "reference:";

const TOOL_NAME: Record<ViewerTool, string> = {
  length: tools.LengthTool.toolName,
  angle: tools.AngleTool.toolName,
  ellipse: tools.EllipticalROITool.toolName,
  rectangle: tools.RectangleROITool.toolName,
  point: tools.ProbeTool.toolName,
  brush: tools.BrushTool.toolName,
};
const TOOL_OF_NAME = new Map(Object.entries(TOOL_NAME).map(([k, v]) => [v, k as ViewerTool]));
const NAV_NAME = { window: tools.WindowLevelTool.toolName, pan: tools.PanTool.toolName, zoom: tools.ZoomTool.toolName, eraser: tools.EraserTool.toolName } as const;

const { MouseBindings } = tools.Enums;
const ORIENTATION = { axial: core.Enums.OrientationAxis.AXIAL, sagittal: core.Enums.OrientationAxis.SAGITTAL, coronal: core.Enums.OrientationAxis.CORONAL } as const;

interface VpState {
  status: ViewportStatus;
  text: ReturnType<typeof viewportText> | null;
  error: string | null;
}
/** How often a viewport's loading progress is re-rendered while its images stream in. */
const PROGRESS_MS = 150;
const emptyStatus = (): ViewportStatus => ({ loaded: 0, failed: 0, total: 0, firstImageAt: null, allLoadedAt: null, message: null });

interface Runtime {
  engine: core.RenderingEngine;
  toolGroupId: string;
  series: Map<string, LoadedSeries>; // viewportId → series
  volumes: Map<string, string>; // viewportId → volumeId
  segmentations: Map<string, string>; // scan → segmentationId
  overlays: Map<string, Promise<SegmentLabel[]>>; // overlay name + scan (overlaySegmentationId) → its labels, once filled
  overlayShown: Set<string>; // overlay name + viewportId
  ready: boolean;
  annotationViewport: Map<string, string>; // annotationUID → viewportId
  syncIds: string[];
  abort: AbortController;
}

export default function Viewer(props: ViewerProps) {
  const { layout, scans, readOnly = false } = props;
  const { offered, hotkeys } = useOfferedTools(props);
  const uid = useId().replace(/[^A-Za-z0-9]/g, "");
  const engineId = `atrium-viewer-${uid}`;
  const elements = useRef(new Map<string, HTMLDivElement>());
  const runtime = useRef<Runtime | null>(null);
  const [vp, setVp] = useState<Record<string, VpState>>({});
  const [primary, setPrimary] = useState<Primary>(INITIAL_CONTROLS.primary);
  const [activeLabel, setActiveLabel] = useState<number>(props.labels?.[0]?.value ?? 1);
  const [brushSize, setBrushSize] = useState(INITIAL_CONTROLS.brushSize);
  const [overlayOpacity, setOverlayOpacity] = useState(INITIAL_CONTROLS.overlayOpacity);
  const overlayOpacityRef = useRef(overlayOpacity);
  overlayOpacityRef.current = overlayOpacity;
  const [help, setHelp] = useState(false);
  const [activeViewport, setActiveViewport] = useState<string>(layout.viewports[0]!.id);
  const [fatal, setFatal] = useState<string | null>(null);
  /** Per overlay: its labels once shown, or why it is not. */
  const [overlayState, setOverlayState] = useState<Record<string, { labels: SegmentLabel[]; message: string | null }>>({});
  const statusRef = useRef<Record<string, ViewportStatus>>({});
  // Images loaded per viewport, counted outside React state: only the viewport's cell re-renders for them.
  const counts = useMemo(() => new LoadCounts(), []);
  const setElement = useCallback((id: string, el: HTMLDivElement | null) => {
    if (el) elements.current.set(id, el);
    else elements.current.delete(id);
  }, []);
  const onChangeRef = useRef(props.onAnnotationsChange);
  onChangeRef.current = props.onAnnotationsChange;
  const labelsRef = useRef(props.labels ?? []);
  labelsRef.current = props.labels ?? [];
  const activeLabelRef = useRef(activeLabel);
  activeLabelRef.current = activeLabel;
  const initialAnnotations = useRef(props.initialAnnotations);
  const referenceRef = useRef(props.referenceAnnotations);
  const overlaysRef = useRef(props.overlays);
  overlaysRef.current = props.overlays;

  const patch = useCallback((id: string, f: (s: VpState) => Partial<VpState>) => {
    setVp((all) => {
      const cur = all[id] ?? { status: emptyStatus(), text: null, error: null };
      const next = { ...cur, ...f(cur) };
      statusRef.current[id] = { ...next.status, ...counts.get(id) };
      return { ...all, [id]: next };
    });
  }, [counts]);

  // ---- label overlays: each in the viewports that list it, read-only, beside the reader's own brush labelmap
  const showOverlays = useCallback(
    async (rt: Runtime) => {
      for (const o of overlaysRef.current ?? []) {
        const specs = layout.viewports.filter((v) => v.overlays.includes(o.name));
        if (!specs.length) continue;
        const note = (labels: SegmentLabel[], message: string | null) => setOverlayState((all) => ({ ...all, [o.name]: { labels, message } }));
        if (o.message) {
          note([], o.message);
          continue;
        }
        for (const spec of specs) {
          const shownKey = `${o.name}|${spec.id}`;
          const s = rt.series.get(spec.id);
          if (rt.overlayShown.has(shownKey) || !s) continue;
          rt.overlayShown.add(shownKey);
          const key = `${o.name}:${spec.scan}`;
          const segId = overlaySegmentationId(rt, key);
          let filled = rt.overlays.get(key);
          if (!filled) {
            filled = fillOverlay(o, s, segId).then((present) => overlayLabels(o, present));
            rt.overlays.set(key, filled);
          }
          try {
            const labels = await filled;
            if (runtime.current !== rt) return;
            note(labels, null);
            await tools.segmentation.addLabelmapRepresentationToViewportMap({ [spec.id]: [{ segmentationId: segId }] });
            labels.forEach((l, i) => tools.segmentation.config.color.setSegmentIndexColor(spec.id, segId, l.value, [...labelColor(l, i + OVERLAY_PALETTE_OFFSET), 255] as core.Types.Color));
            tools.segmentation.config.style.setStyle({ viewportId: spec.id, segmentationId: segId, type: tools.Enums.SegmentationRepresentations.Labelmap }, labelmapStyle(overlayOpacityRef.current));
            // The brush paints the reader's own labelmap, never an overlay.
            const own = rt.segmentations.get(spec.scan);
            if (own) tools.segmentation.activeSegmentation.setActiveSegmentation(spec.id, own);
            tools.segmentation.triggerSegmentationEvents.triggerSegmentationDataModified(segId);
            rt.engine.render();
            elements.current.get(spec.id)?.setAttribute("data-overlays", [...rt.overlayShown].filter((k) => k.endsWith(`|${spec.id}`)).map((k) => k.split("|")[0]).join(" "));
          } catch (e) {
            rt.overlayShown.delete(shownKey);
            rt.overlays.delete(key);
            note([], `${o.label} could not be shown: ${(e as Error).message}`);
          }
        }
      }
    },
    [layout],
  );
  const overlaysKey = JSON.stringify((props.overlays ?? []).map((o) => [o.name, o.url, o.message, o.labelmap?.slices.length ?? 0]));
  useEffect(() => {
    const rt = runtime.current;
    if (rt?.ready) void showOverlays(rt);
  }, [overlaysKey, showOverlays]);

  // ---- the text in the corners, kept up to date from the viewport's events
  const refreshText = useCallback(
    (spec: ViewportSpec) => {
      const rt = runtime.current;
      const s = rt?.series.get(spec.id);
      const v = rt?.engine.getViewport(spec.id) as core.Types.IStackViewport | core.Types.IVolumeViewport | undefined;
      if (!rt || !s || !v) return;
      const ref = scans[spec.scan];
      let index = 0;
      let count = s.imageIds.length;
      try {
        index = v.getSliceIndex?.() ?? (v as core.Types.IStackViewport).getCurrentImageIdIndex();
        count = v.getNumberOfSlices?.() ?? count;
      } catch {
        // not rendered yet
      }
      const cam = v.getCamera();
      const pos = cam.focalPoint && cam.viewPlaneNormal ? cam.focalPoint[0] * cam.viewPlaneNormal[0] + cam.focalPoint[1] * cam.viewPlaneNormal[1] + cam.focalPoint[2] * cam.viewPlaneNormal[2] : null;
      const volumeId = rt.volumes.get(spec.id);
      let props: { voiRange?: { lower: number; upper: number } } = {};
      try {
        // Before a volume or stack is set, cornerstone has no properties to give.
        props = ((volumeId ? (v as core.Types.IVolumeViewport).getProperties(volumeId) : (v as core.Types.IStackViewport).getProperties()) ?? {}) as typeof props;
      } catch {
        // not rendered yet
      }
      const text = viewportText({
        subjectLabel: ref?.subjectLabel, experimentLabel: ref?.experimentLabel, seriesDescription: s.description, seriesNumber: s.seriesNumber, modality: s.modality,
        orientation: spec.orientation, imageIndex: index, imageCount: count, slicePosition: Number.isFinite(pos) ? pos : null, window: props.voiRange ? rangeToWindow(props.voiRange) : null,
      });
      patch(spec.id, () => ({ text }));
    },
    [scans, patch],
  );

  // ---- apply the template's view to one viewport
  const applyTemplateView = useCallback((spec: ViewportSpec, window: WindowPreset = spec.window) => {
    const rt = runtime.current;
    const v = rt?.engine.getViewport(spec.id);
    if (!rt || !v) return;
    const w = presetWindow(window);
    const volumeId = rt.volumes.get(spec.id);
    if (volumeId) {
      const vv = v as core.Types.IVolumeViewport;
      vv.resetCamera();
      if (w) vv.setProperties({ voiRange: windowToRange(w) }, volumeId);
      else vv.resetProperties?.();
    } else {
      const sv = v as core.Types.IStackViewport;
      sv.resetCamera();
      sv.resetProperties();
      if (w) sv.setProperties({ voiRange: windowToRange(w) });
      if (sv.getCurrentImageIdIndex() !== 0) void sv.setImageIdIndex(0);
    }
    v.render();
  }, []);

  // ---- annotations ⇄ JSON
  const scanOfViewport = useCallback((viewportId: string) => layout.viewports.find((x) => x.id === viewportId)?.scan, [layout]);

  const getAnnotations = useCallback((): ViewerAnnotations => {
    const rt = runtime.current;
    if (!rt) return EMPTY_ANNOTATIONS;
    const measurements: Measurement[] = [];
    for (const a of tools.annotation.state.getAllAnnotations()) {
      if (!a.metadata) continue;
      const tool = TOOL_OF_NAME.get(a.metadata.toolName);
      if (!tool || tool === "brush" || !a.annotationUID || a.annotationUID.startsWith(REFERENCE_UID)) continue;
      const imageId = a.metadata.referencedImageId;
      let viewportId = rt.annotationViewport.get(a.annotationUID);
      let imgRef: { sopInstanceUid: string; frame: number } | undefined;
      if (imageId) {
        for (const [vid, s] of rt.series) {
          const r = s.refOf.get(imageId);
          if (r) {
            imgRef = r;
            viewportId ??= vid;
            break;
          }
        }
      }
      const scan = viewportId ? scanOfViewport(viewportId) : undefined;
      if (!scan) continue;
      const data = a.data as { handles?: { points?: number[][] }; label?: string; cachedStats?: Record<string, Record<string, unknown>> };
      const points = (data.handles?.points ?? []).map((p) => [p[0]!, p[1]!, p[2]!] as [number, number, number]);
      if (points.length === 0) continue;
      const stats: Record<string, number | string | null> = {};
      for (const st of Object.values(data.cachedStats ?? {})) {
        for (const [k, val] of Object.entries(st ?? {})) if (typeof val === "number" || typeof val === "string" || val === null) stats[k] = typeof val === "number" && !Number.isFinite(val) ? null : val;
        break;
      }
      const m = a.metadata as { FrameOfReferenceUID?: string; viewPlaneNormal?: number[]; viewUp?: number[] };
      measurements.push({
        uid: a.annotationUID,
        tool,
        ref: {
          scan,
          viewportId,
          ...(imgRef ? { sopInstanceUid: imgRef.sopInstanceUid, frame: imgRef.frame } : {}),
          ...(m.FrameOfReferenceUID ? { frameOfReferenceUid: m.FrameOfReferenceUID } : {}),
          ...(m.viewPlaneNormal ? { viewPlaneNormal: [m.viewPlaneNormal[0]!, m.viewPlaneNormal[1]!, m.viewPlaneNormal[2]!] } : {}),
          ...(m.viewUp ? { viewUp: [m.viewUp[0]!, m.viewUp[1]!, m.viewUp[2]!] } : {}),
        },
        points,
        ...(data.label ? { label: data.label } : {}),
        ...(Object.keys(stats).length ? { stats } : {}),
      });
    }
    const labelmaps: ViewerAnnotations["labelmaps"] = [];
    for (const [scan, segId] of rt.segmentations) {
      const seg = tools.segmentation.state.getSegmentation(segId);
      const ids = (seg?.representationData.Labelmap as { imageIds?: string[] } | undefined)?.imageIds ?? [];
      const source = [...rt.series.entries()].find(([vid]) => scanOfViewport(vid) === scan)?.[1];
      const slices: ViewerAnnotations["labelmaps"][number]["slices"] = [];
      ids.forEach((segImageId) => {
        const img = core.cache.getImage(segImageId);
        const ref = img?.referencedImageId ? source?.refOf.get(img.referencedImageId) : undefined;
        if (!img || !ref) return;
        const runs = encodeRuns(img.voxelManager ? (img.voxelManager.getScalarData() as ArrayLike<number>) : (img.getPixelData() as ArrayLike<number>));
        if (runs.length) slices.push({ sopInstanceUid: ref.sopInstanceUid, frame: ref.frame, rows: img.rows, columns: img.columns, runs });
      });
      if (slices.length) labelmaps.push({ scan, slices });
    }
    return { version: 1, measurements, labelmaps };
  }, [scanOfViewport]);

  /** Adds one measurement to its viewport (by viewport id, else the first showing its scan). */
  const addMeasurement = useCallback(
    (rt: Runtime, m: Measurement, locked: boolean): boolean => {
      const spec = layout.viewports.find((x) => x.id === m.ref.viewportId) ?? layout.viewports.find((x) => x.scan === m.ref.scan);
      const s = spec ? rt.series.get(spec.id) : undefined;
      const el = spec ? elements.current.get(spec.id) : undefined;
      if (!spec || !s || !el) return false;
      const referencedImageId = m.ref.sopInstanceUid ? s.imageIdOf(m.ref.sopInstanceUid, m.ref.frame ?? 1) : undefined;
      const ann = {
        annotationUID: m.uid,
        highlighted: false,
        invalidated: true,
        isLocked: locked,
        isVisible: true,
        metadata: {
          toolName: TOOL_NAME[m.tool],
          FrameOfReferenceUID: m.ref.frameOfReferenceUid ?? "",
          viewPlaneNormal: m.ref.viewPlaneNormal,
          viewUp: m.ref.viewUp,
          ...(referencedImageId ? { referencedImageId } : {}),
        },
        data: {
          handles: { points: m.points.map((p) => [...p]), activeHandleIndex: null, textBox: { hasMoved: false, worldPosition: [0, 0, 0], worldBoundingBox: { topLeft: [0, 0, 0], topRight: [0, 0, 0], bottomLeft: [0, 0, 0], bottomRight: [0, 0, 0] } } },
          ...(m.label ? { label: m.label } : {}),
          cachedStats: {},
        },
      };
      tools.annotation.state.addAnnotation(ann as never, el);
      rt.annotationViewport.set(m.uid, spec.id);
      return true;
    },
    [layout],
  );

  const setAnnotations = useCallback(
    (input: ViewerAnnotations) => {
      const rt = runtime.current;
      if (!rt) return;
      const parsed = ViewerAnnotations.parse(input);
      for (const a of tools.annotation.state.getAllAnnotations()) if (a.annotationUID && !a.annotationUID.startsWith(REFERENCE_UID) && a.metadata && TOOL_OF_NAME.has(a.metadata.toolName)) tools.annotation.state.removeAnnotation(a.annotationUID);
      for (const m of parsed.measurements) addMeasurement(rt, m, readOnly);
      for (const lm of parsed.labelmaps) {
        const spec = layout.viewports.find((x) => x.scan === lm.scan);
        const s = spec ? rt.series.get(spec.id) : undefined;
        if (!spec || !s) continue;
        void ensureSegmentation(rt, spec, s).then((segId) => {
          const seg = tools.segmentation.state.getSegmentation(segId);
          const ids = (seg?.representationData.Labelmap as { imageIds?: string[] } | undefined)?.imageIds ?? [];
          paintSlices(ids.map((id) => core.cache.getImage(id)).filter((img): img is core.Types.IImage => Boolean(img)), s, lm.slices);
          tools.segmentation.triggerSegmentationEvents.triggerSegmentationDataModified(segId);
        });
      }
      rt.engine.render();
    },
    [layout, readOnly, addMeasurement],
  );

  const reset = useCallback(
    (viewportId?: string) => {
      for (const spec of layout.viewports) if (!viewportId || spec.id === viewportId) applyTemplateView(spec);
    },
    [layout, applyTemplateView],
  );

  // ---- the API for the caller
  useEffect(() => {
    const api: ViewerApi = { getAnnotations, setAnnotations, reset, status: () => ({ ...statusRef.current }) };
    const target = props.apiRef;
    if (typeof target === "function") target(api);
    else if (target) target.current = api;
    return () => {
      if (typeof target === "function") target(null);
      else if (target) target.current = null;
    };
  }, [getAnnotations, setAnnotations, reset, props.apiRef]);

  // ---- set-up: engine, tool group, viewports, series, sync groups
  const layoutKey = JSON.stringify(layout) + JSON.stringify(scans);
  useEffect(() => {
    let cancelled = false;
    const abort = new AbortController();
    const cleanups: (() => void)[] = [];
    setVp({});
    statusRef.current = {};
    counts.reset();
    (async () => {
      // The series' metadata (and the frames of stacks) are asked for while cornerstone3D starts.
      for (const spec of layout.viewports) {
        const ref = scans[spec.scan];
        if (ref) seriesMetadata(ref).catch(() => undefined);
      }
      const stackOnly = new Set<string>();
      for (const ref of stackOnlySeries(layout, scans)) {
        stackOnly.add(seriesKeyOf(ref));
        fetchSeriesFrames(ref);
        cleanups.push(() => releaseSeriesFrames(ref));
      }
      await initCornerstone();
      if (cancelled) return;
      // Each stack's images go into cornerstone's cache, its first image first, while the rendering
      // engine and the viewports are set up: setStack then finds the first in the cache (or in
      // flight), and each viewport's own loading below counts what is already there. A failure is
      // left to that loading, which asks again and says what went wrong.
      for (const spec of layout.viewports) {
        const ref = scans[spec.scan];
        if (!ref || spec.orientation !== "acquired") continue;
        loadSeries(ref)
          .then((s) => {
            if (!s.imageIds[0] || cancelled) return;
            void loadImage(s.imageIds[0], -5, core.Enums.RequestType.Interaction).catch(() => undefined);
            if (stackOnly.has(seriesKeyOf(ref))) void streamImages(s.imageIds, 1, abort.signal, () => undefined);
          })
          .catch(() => undefined);
      }
      const engine = new core.RenderingEngine(engineId);
      const toolGroupId = `${engineId}-tools`;
      const rt: Runtime = { engine, toolGroupId, series: new Map(), volumes: new Map(), segmentations: new Map(), overlays: new Map(), overlayShown: new Set(), ready: false, annotationViewport: new Map(), syncIds: [], abort };
      runtime.current = rt;
      const tg = tools.ToolGroupManager.createToolGroup(toolGroupId)!;
      for (const name of [...Object.values(NAV_NAME), tools.StackScrollTool.toolName]) tg.addTool(name);
      for (const t of offered) tg.addTool(TOOL_NAME[t], t === "brush" ? { activeStrategy: "FILL_INSIDE_CIRCLE" } : undefined);
      tg.setToolActive(NAV_NAME.window, { bindings: [{ mouseButton: MouseBindings.Primary }] });
      tg.setToolActive(NAV_NAME.pan, { bindings: [{ mouseButton: MouseBindings.Auxiliary }] });
      tg.setToolActive(NAV_NAME.zoom, { bindings: [{ mouseButton: MouseBindings.Secondary }] });
      tg.setToolActive(tools.StackScrollTool.toolName, { bindings: [{ mouseButton: MouseBindings.Wheel }] });
      for (const t of offered) tg.setToolPassive(TOOL_NAME[t]);

      // Viewports are enabled in one go; series load in parallel.
      const inputs: core.Types.PublicViewportInput[] = [];
      for (const spec of layout.viewports) {
        const el = elements.current.get(spec.id);
        if (!el) continue;
        el.oncontextmenu = (e) => e.preventDefault();
        const volume = spec.orientation !== "acquired";
        inputs.push({
          viewportId: spec.id,
          element: el,
          type: volume ? core.Enums.ViewportType.ORTHOGRAPHIC : core.Enums.ViewportType.STACK,
          defaultOptions: { background: [0, 0, 0] as core.Types.Point3, ...(volume ? { orientation: ORIENTATION[spec.orientation as keyof typeof ORIENTATION] } : {}) },
        });
      }
      engine.setViewports(inputs);
      performance.mark("atrium:viewports-enabled");
      for (const i of inputs) tg.addViewport(i.viewportId, engineId);

      // Sync groups: one synchronizer per (kind, group) of this viewer.
      const groups = new Map<string, { kind: string; viewports: string[] }>();
      for (const spec of layout.viewports) for (const s of spec.sync) {
        const id = `${engineId}-${s.kind}-${s.group}`;
        const g = groups.get(id) ?? { kind: s.kind, viewports: [] };
        g.viewports.push(spec.id);
        groups.set(id, g);
      }
      for (const [id, g] of groups) {
        const sync =
          g.kind === "scroll" ? tools.synchronizers.createImageSliceSynchronizer(id) : g.kind === "window" ? tools.synchronizers.createVOISynchronizer(id, { syncInvertState: false, syncColormap: false }) : tools.synchronizers.createZoomPanSynchronizer(id);
        for (const viewportId of g.viewports) sync.add({ renderingEngineId: engineId, viewportId });
        rt.syncIds.push(id);
      }

      // Annotation events: remember which viewport an annotation was drawn in; label points; tell the caller.
      let changeTimer: ReturnType<typeof setTimeout> | undefined;
      const changed = () => {
        clearTimeout(changeTimer);
        changeTimer = setTimeout(() => onChangeRef.current?.(getAnnotations()), 300);
      };
      const onAdded = (evt: Event) => {
        const d = (evt as CustomEvent).detail as { annotation?: { annotationUID?: string; metadata: { toolName: string }; data: { label?: string } }; viewportId?: string; renderingEngineId?: string };
        if (d.renderingEngineId && d.renderingEngineId !== engineId) return;
        if (d.annotation?.annotationUID && d.viewportId) rt.annotationViewport.set(d.annotation.annotationUID, d.viewportId);
        if (d.annotation?.metadata.toolName === TOOL_NAME.point && !d.annotation.data.label) {
          const l = labelsRef.current.find((x) => x.value === activeLabelRef.current);
          if (l) d.annotation.data.label = l.name;
        }
      };
      const TE = tools.Enums.Events;
      core.eventTarget.addEventListener(TE.ANNOTATION_ADDED, onAdded);
      for (const e of [TE.ANNOTATION_COMPLETED, TE.ANNOTATION_MODIFIED, TE.ANNOTATION_REMOVED, TE.SEGMENTATION_DATA_MODIFIED]) core.eventTarget.addEventListener(e, changed);
      cleanups.push(() => {
        clearTimeout(changeTimer);
        core.eventTarget.removeEventListener(TE.ANNOTATION_ADDED, onAdded);
        for (const e of [TE.ANNOTATION_COMPLETED, TE.ANNOTATION_MODIFIED, TE.ANNOTATION_REMOVED, TE.SEGMENTATION_DATA_MODIFIED]) core.eventTarget.removeEventListener(e, changed);
      });

      await Promise.all(layout.viewports.map((spec) => setUpViewport(spec)));
      if (cancelled) return;
      if (initialAnnotations.current) {
        try {
          setAnnotations(initialAnnotations.current);
        } catch (e) {
          setFatal(`The saved annotations could not be restored: ${(e as Error).message}`);
        }
      }
      for (const r of referenceRef.current ?? []) {
        for (const m of r.measurements) {
          const uid = `${REFERENCE_UID}${r.key}:${m.uid}`;
          if (!addMeasurement(rt, { ...m, uid, label: m.label ? `${r.name}: ${m.label}` : r.name }, true)) continue;
          tools.annotation.locking.setAnnotationLocked(uid, true);
          tools.annotation.config.style.setAnnotationStyles(uid, { color: r.color, colorHighlighted: r.color, colorSelected: r.color, colorLocked: r.color, textBoxColor: r.color, textBoxColorLocked: r.color });
        }
      }
      if (referenceRef.current?.length) rt.engine.render();
      rt.ready = true;
      void showOverlays(rt);

      async function setUpViewport(spec: ViewportSpec) {
        const ref = scans[spec.scan];
        const el = elements.current.get(spec.id);
        if (!el) return;
        if (!ref) {
          patch(spec.id, (s) => ({ status: { ...s.status, message: `No series for "${spec.scan}" in this experiment.` } }));
          return;
        }
        let s: LoadedSeries;
        try {
          s = await loadSeries(ref);
        } catch (e) {
          patch(spec.id, () => ({ error: (e as Error).message }));
          return;
        }
        if (cancelled) return;
        if (s.noPixels) {
          patch(spec.id, (st) => ({ status: { ...st.status, message: s.noPixels } }));
          return;
        }
        rt.series.set(spec.id, s);
        const total = s.imageIds.length;
        patch(spec.id, (st) => ({ status: { ...st.status, total } }));
        const seen = new Set<string>();
        let failedOnce: string | null = null;
        // The progress is counted here and shown at most every PROGRESS_MS (and at once when the
        // stack is complete): a re-render of the viewer per image cost more than loading the image.
        let newlyLoaded = 0;
        let newlyFailed = 0;
        let flushTimer: ReturnType<typeof setTimeout> | undefined;
        const flush = () => {
          clearTimeout(flushTimer);
          flushTimer = undefined;
          if (cancelled || newlyLoaded + newlyFailed === 0) return;
          const hadFailed = counts.get(spec.id).failed > 0;
          const { loaded, failed } = counts.add(spec.id, newlyLoaded, newlyFailed);
          newlyLoaded = newlyFailed = 0;
          statusRef.current[spec.id] = { ...(statusRef.current[spec.id] ?? emptyStatus()), loaded, failed };
          // The viewer's own state only when the stack is complete, or at the first failure (a message to show).
          if (loaded + failed >= total || (failed && !hadFailed)) {
            patch(spec.id, (st) => ({ status: { ...st.status, loaded, failed, allLoadedAt: loaded + failed >= total ? performance.now() : null, message: failed && failedOnce ? `${failed} of ${total} image(s) could not be shown: ${failedOnce}` : st.status.message } }));
          }
        };
        cleanups.push(() => clearTimeout(flushTimer));
        const count = (imageId: string, err?: unknown) => {
          if (seen.has(imageId) || cancelled) return;
          seen.add(imageId);
          if (err) {
            failedOnce ??= describeLoadError(err);
            newlyFailed++;
          } else newlyLoaded++;
          // performance.now() when the whole stack is in (from the navigation; bench/viewer-load.ts reads it).
          if (seen.size === total) {
            el.dataset.allLoaded = String(performance.now());
            el.dataset.decodedAhead = String(decodedFrameImages());
            flush();
          } else if (seen.size === 1) flush();
          else flushTimer ??= setTimeout(flush, PROGRESS_MS);
        };
        const onRendered = () => {
          if (statusRef.current[spec.id]?.firstImageAt == null) {
            const t = performance.now();
            performance.mark(`atrium:first-image:${spec.id}`);
            patch(spec.id, (st) => ({ status: { ...st.status, firstImageAt: st.status.firstImageAt ?? t } }));
            el.dataset.firstImage = String(t);
          }
        };
        const onText = () => refreshText(spec);
        el.addEventListener(core.Enums.Events.IMAGE_RENDERED, onRendered);
        for (const e of [core.Enums.Events.STACK_NEW_IMAGE, core.Enums.Events.VOLUME_NEW_IMAGE, core.Enums.Events.VOI_MODIFIED, core.Enums.Events.CAMERA_MODIFIED]) el.addEventListener(e, onText);
        cleanups.push(() => {
          el.removeEventListener(core.Enums.Events.IMAGE_RENDERED, onRendered);
          for (const e of [core.Enums.Events.STACK_NEW_IMAGE, core.Enums.Events.VOLUME_NEW_IMAGE, core.Enums.Events.VOI_MODIFIED, core.Enums.Events.CAMERA_MODIFIED]) el.removeEventListener(e, onText);
        });
        const viewport = engine.getViewport(spec.id);
        try {
          if (spec.orientation === "acquired") {
            const sv = viewport as core.Types.IStackViewport;
            // Its first frame fetched ahead is in the loader's hands before the viewport asks for it.
            await frameAhead(s.imageIds[0]!.slice("wadors:".length));
            if (cancelled) return;
            performance.mark(`atrium:set-stack:${spec.id}`);
            await sv.setStack(s.imageIds, 0);
            count(s.imageIds[0]!);
            applyTemplateView(spec);
            void streamImages(s.imageIds, 0, abort.signal, count);
          } else {
            if (!s.volumeCapable) {
              patch(spec.id, () => ({ error: `This series cannot be reformatted (${spec.orientation}): its images are not parallel slices of one volume. Show it as acquired.` }));
              return;
            }
            const volumeId = `cornerstoneStreamingImageVolume:${s.key}`;
            rt.volumes.set(spec.id, volumeId);
            const volume = await core.volumeLoader.createAndCacheVolume(volumeId, { imageIds: s.imageIds });
            const onLoaded = (evt: Event) => {
              const d = (evt as CustomEvent).detail as { image?: { imageId?: string }; imageId?: string };
              const id = d.image?.imageId ?? d.imageId;
              if (id && s.refOf.has(id)) count(id);
            };
            const onFailed = (evt: Event) => {
              const d = (evt as CustomEvent).detail as { imageId?: string; error?: unknown };
              if (d.imageId && s.refOf.has(d.imageId)) count(d.imageId, d.error ?? "failed");
            };
            core.eventTarget.addEventListener(core.Enums.Events.IMAGE_LOADED, onLoaded);
            core.eventTarget.addEventListener(core.Enums.Events.IMAGE_LOAD_FAILED, onFailed);
            cleanups.push(() => {
              core.eventTarget.removeEventListener(core.Enums.Events.IMAGE_LOADED, onLoaded);
              core.eventTarget.removeEventListener(core.Enums.Events.IMAGE_LOAD_FAILED, onFailed);
            });
            for (const id of s.imageIds) if (core.cache.isLoaded?.(id) || core.cache.getImage(id)) count(id);
            (volume as unknown as { load: () => void }).load();
            await (viewport as core.Types.IVolumeViewport).setVolumes([{ volumeId }]);
            applyTemplateView(spec);
          }
          refreshText(spec);
        } catch (e) {
          patch(spec.id, () => ({ error: describeLoadError(e) }));
        }
      }
    })().catch((e) => {
      if (!cancelled) setFatal(`The viewer could not start: ${(e as Error).message}`);
    });
    return () => {
      cancelled = true;
      abort.abort();
      for (const c of cleanups) c();
      const rt = runtime.current;
      runtime.current = null;
      if (rt) {
        for (const id of rt.syncIds) tools.SynchronizerManager.destroySynchronizer(id);
        for (const segId of [...rt.segmentations.values(), ...[...rt.overlays.keys()].map((k) => overlaySegmentationId(rt, k))]) {
          try {
            tools.segmentation.removeSegmentation(segId);
          } catch {
            // already gone
          }
        }
        tools.ToolGroupManager.destroyToolGroup(rt.toolGroupId);
        rt.engine.destroy();
      }
    };
    // layoutKey stands for layout and scans; the callbacks are stable for one layout.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [layoutKey, engineId, offered.join(",")]);

  // ---- the primary (left-button) tool
  const choosePrimary = useCallback(
    (next: Primary) => {
      const rt = runtime.current;
      const tg = rt ? tools.ToolGroupManager.getToolGroup(rt.toolGroupId) : undefined;
      if (!tg) return;
      const nameOf = (p: Primary) => (p in NAV_NAME ? NAV_NAME[p as keyof typeof NAV_NAME] : TOOL_NAME[p as ViewerTool]);
      const prev = nameOf(primary);
      if (primary === "eraser") tg.setToolDisabled(prev);
      else tg.setToolPassive(prev);
      if (next === "brush" && rt) {
        void (async () => {
          for (const spec of layout.viewports) {
            const s = rt.series.get(spec.id);
            if (s) await ensureSegmentation(rt, spec, s);
          }
          tools.segmentation.segmentIndex.setActiveSegmentIndex([...rt.segmentations.values()][0] ?? "", activeLabelRef.current);
          tools.utilities.segmentation.setBrushSizeForToolGroup(rt.toolGroupId, brushSize);
          tg.setToolActive(nameOf(next), { bindings: [{ mouseButton: MouseBindings.Primary }] });
        })();
      } else {
        if (next === "eraser") tg.addTool(NAV_NAME.eraser);
        tg.setToolActive(nameOf(next), { bindings: [{ mouseButton: MouseBindings.Primary }] });
      }
      setPrimary(next);
    },
    [primary, layout, brushSize],
  );

  useEffect(() => {
    const rt = runtime.current;
    if (!rt) return;
    for (const segId of rt.segmentations.values()) tools.segmentation.segmentIndex.setActiveSegmentIndex(segId, activeLabel);
    try {
      tools.utilities.segmentation.setBrushSizeForToolGroup(rt.toolGroupId, brushSize);
    } catch {
      // no brush in this viewer
    }
  }, [activeLabel, brushSize]);

  useEffect(() => {
    const rt = runtime.current;
    if (!rt) return;
    const overlaySegs = [...rt.overlays.keys()].map((k) => overlaySegmentationId(rt, k));
    for (const spec of layout.viewports) {
      for (const segId of [...rt.segmentations.values(), ...overlaySegs]) {
        try {
          tools.segmentation.config.style.setStyle({ viewportId: spec.id, segmentationId: segId, type: tools.Enums.SegmentationRepresentations.Labelmap }, labelmapStyle(overlayOpacity));
        } catch {
          // not shown in this viewport
        }
      }
    }
    rt.engine.render();
  }, [overlayOpacity, layout]);

  // ---- hotkeys
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement | null;
      if (t && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName))) return;
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
      const action = hotkeys.map.get(key);
      if (!action) return;
      e.preventDefault();
      if (action === "help") setHelp((h) => !h);
      else if (action === "reset") reset();
      else if (action === "next-image" || action === "previous-image") {
        const v = runtime.current?.engine.getViewport(activeViewport);
        if (v) core.utilities.scroll(v, { delta: action === "next-image" ? 1 : -1 });
      } else choosePrimary(action as Primary);
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [hotkeys, reset, choosePrimary, activeViewport]);

  // ---- render
  const cells = placeCells(layout);

  return (
    <Stack gap={6} h={props.height ?? "100%"} data-testid="viewer">
      <ViewerToolbar
        offered={offered}
        hotkeys={hotkeys.map}
        labels={props.labels}
        primary={primary}
        activeLabel={activeLabel}
        brushSize={brushSize}
        overlayOpacity={overlayOpacity}
        overlays={hasOverlays(layout)}
        on={{
          primary: choosePrimary,
          windowPreset: (v) => {
            const spec = layout.viewports.find((x) => x.id === activeViewport);
            if (spec) applyTemplateView(spec, v === "template" ? spec.window : (v as WindowPreset));
          },
          reset: () => reset(),
          help: () => setHelp(true),
          label: setActiveLabel,
          brushSize: setBrushSize,
          overlayOpacity: setOverlayOpacity,
        }}
      />
      {hotkeys.error && <Text size="xs" c="red">{hotkeys.error}</Text>}
      {hasOverlays(layout) && <OverlayLegend overlays={(props.overlays ?? []).filter((o) => layout.viewports.some((v) => v.overlays.includes(o.name)))} state={overlayState} />}
      {fatal && <Text size="sm" c="red" data-testid="viewer-error">{fatal}</Text>}
      <Box style={gridStyle(layout)}>
        {layout.viewports.map((spec, i) => {
          const ref = scans[spec.scan];
          return (
            <ViewportCell
              key={spec.id}
              spec={spec}
              cell={cells[i]!}
              state={vp[spec.id]}
              outline={activeViewport === spec.id && layout.viewports.length > 1}
              firstImage={ref && spec.orientation === "acquired" ? firstImageUrl(ref, spec) : null}
              counts={counts}
              setElement={setElement}
              activate={setActiveViewport}
            />
          );
        })}
      </Box>
      <Modal opened={help} onClose={() => setHelp(false)} title="Viewer keys and mouse" size="md">
        <Table>
          <Table.Tbody>
            {[...hotkeys.map.entries()].map(([k, a]) => (
              <Table.Tr key={a}>
                <Table.Td><Kbd>{k}</Kbd></Table.Td>
                <Table.Td>{ACTION_LABELS[a]}</Table.Td>
              </Table.Tr>
            ))}
            <Table.Tr><Table.Td>Wheel</Table.Td><Table.Td>Scroll through images</Table.Td></Table.Tr>
            <Table.Tr><Table.Td>Middle drag</Table.Td><Table.Td>Pan</Table.Td></Table.Tr>
            <Table.Tr><Table.Td>Right drag</Table.Td><Table.Td>Zoom</Table.Td></Table.Tr>
          </Table.Tbody>
        </Table>
      </Modal>
    </Stack>
  );
}

/** Images loaded and failed per viewport, with a subscription per viewport (useSyncExternalStore). */
class LoadCounts {
  private counts = new Map<string, { loaded: number; failed: number }>();
  private listeners = new Map<string, Set<() => void>>();
  private static readonly NONE = { loaded: 0, failed: 0 };
  get(id: string): { loaded: number; failed: number } {
    return this.counts.get(id) ?? LoadCounts.NONE;
  }
  add(id: string, loaded: number, failed: number): { loaded: number; failed: number } {
    const cur = this.get(id);
    const next = { loaded: cur.loaded + loaded, failed: cur.failed + failed };
    this.counts.set(id, next);
    for (const l of this.listeners.get(id) ?? []) l();
    return next;
  }
  reset(): void {
    const ids = [...this.counts.keys()];
    this.counts.clear();
    for (const id of ids) for (const l of this.listeners.get(id) ?? []) l();
  }
  subscribe(id: string, listener: () => void): () => void {
    let set = this.listeners.get(id);
    if (!set) this.listeners.set(id, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }
}

interface ViewportCellProps {
  spec: ViewportSpec;
  cell: Cell;
  state: VpState | undefined;
  outline: boolean;
  firstImage: string | null;
  counts: LoadCounts;
  setElement: (id: string, el: HTMLDivElement | null) => void;
  activate: (id: string) => void;
}

/** One viewport: cornerstone3D's element, the first image until it draws, corner text, progress and messages. */
const ViewportCell = memo(function ViewportCell({ spec, cell, state, outline, firstImage, counts, setElement, activate }: ViewportCellProps) {
  const id = spec.id;
  const { loaded, failed } = useSyncExternalStore(
    useCallback((l: () => void) => counts.subscribe(id, l), [counts, id]),
    () => counts.get(id),
    () => counts.get(id),
  );
  const status = state?.status ?? emptyStatus();
  const loading = status.total > 0 && loaded + failed < status.total;
  const elementRef = useCallback((el: HTMLDivElement | null) => setElement(id, el), [setElement, id]);
  return (
    <Box
      data-testid={`viewport-${id}`}
      data-orientation={spec.orientation}
      data-loaded={loaded}
      data-total={status.total}
      onMouseDown={() => activate(id)}
      onMouseEnter={() => activate(id)}
      style={{ ...cellStyle(cell), outline: outline ? "2px solid var(--mantine-color-blue-6)" : "1px solid #333" }}
    >
      <div ref={elementRef} style={{ position: "absolute", inset: 0 }} data-viewport-element={id} />
      {/* The archive's rendering of the first image, over the canvas until cornerstone3D has drawn there. */}
      {firstImage && status.firstImageAt == null && !state?.error && !status.message && <FirstImage src={firstImage} />}
      {state?.text && <Corners text={state.text} />}
      {loading && (
        <Box style={{ position: "absolute", left: 0, right: 0, bottom: 0, pointerEvents: "none" }}>
          <Progress size={3} value={(100 * (loaded + failed)) / status.total} aria-label={`Loading ${id}`} />
        </Box>
      )}
      {loading && (
        <Badge size="xs" variant="filled" color="dark" style={{ position: "absolute", bottom: 8, left: "50%", transform: "translateX(-50%)", pointerEvents: "none" }} data-testid="viewport-progress">
          {loaded}/{status.total}
        </Badge>
      )}
      {(state?.error || status.message) && (
        <Box style={{ position: "absolute", inset: 0, display: "flex", alignItems: "center", justifyContent: "center", padding: 16, pointerEvents: "none" }}>
          <Text size="sm" c={state?.error ? "red.4" : "gray.4"} ta="center" data-testid="viewport-message">{state?.error ?? status.message}</Text>
        </Box>
      )}
    </Box>
  );
});

function Corners({ text }: { text: ReturnType<typeof viewportText> }) {
  const base: CSSProperties = { position: "absolute", color: "#e8e8e8", fontSize: 11, lineHeight: 1.3, textShadow: "0 0 2px #000", pointerEvents: "none", fontFamily: "monospace" };
  return (
    <>
      <div style={{ ...base, top: 4, left: 6 }} data-testid="vp-text-tl">{text.topLeft.map((l) => <div key={l}>{l}</div>)}</div>
      <div style={{ ...base, top: 4, right: 6, textAlign: "right" }} data-testid="vp-text-tr">{text.topRight.map((l) => <div key={l}>{l}</div>)}</div>
      <div style={{ ...base, bottom: 10, left: 6 }} data-testid="vp-text-bl">{text.bottomLeft.map((l) => <div key={l}>{l}</div>)}</div>
      <div style={{ ...base, bottom: 10, right: 6, textAlign: "right" }} data-testid="vp-text-br">{text.bottomRight.map((l) => <div key={l}>{l}</div>)}</div>
    </>
  );
}

function describeLoadError(e: unknown): string {
  const x = e as { message?: string; error?: { message?: string }; request?: { status?: number }; status?: number } | string;
  if (typeof x === "string") return x;
  const status = x?.request?.status ?? x?.status;
  if (status === 401) return "your session has ended; sign in again.";
  if (status === 403) return "you may not read these images; ask an owner.";
  if (status === 406) return "the archive cannot serve this image's transfer syntax.";
  const msg = x?.message ?? x?.error?.message;
  return msg ? `the image could not be decoded (${msg.slice(0, 160)}).` : "the image could not be loaded or decoded.";
}

/** The brush labelmap of a viewport's scan, created on first use and shown in every viewport of that scan. */
async function ensureSegmentation(rt: Runtime, spec: ViewportSpec, s: LoadedSeries): Promise<string> {
  let segId = rt.segmentations.get(spec.scan);
  if (!segId) {
    segId = `${rt.toolGroupId}-seg-${spec.scan}`;
    rt.segmentations.set(spec.scan, segId);
    const segImages = await core.imageLoader.createAndCacheDerivedLabelmapImages(s.imageIds);
    tools.segmentation.addSegmentations([{ segmentationId: segId, representation: { type: tools.Enums.SegmentationRepresentations.Labelmap, data: { imageIds: segImages.map((i) => i.imageId) } } }]);
  }
  const shown = tools.segmentation.state.getSegmentationRepresentations(spec.id, { segmentationId: segId });
  if (!shown?.length) await tools.segmentation.addLabelmapRepresentationToViewportMap({ [spec.id]: [{ segmentationId: segId }] });
  // An overlay shown after it may have become the viewport's active segmentation: the brush paints this one.
  tools.segmentation.activeSegmentation.setActiveSegmentation(spec.id, segId);
  return segId;
}


/** A labelmap's look at this opacity, active or not (an overlay beside the reader's brush labelmap is inactive); 0 hides it, outline too. */
function labelmapStyle(opacity: number): never {
  const outline = opacity === 0 ? 0 : Math.min(1, opacity + 0.3);
  return { fillAlpha: opacity, fillAlphaInactive: opacity, outlineOpacity: outline, outlineOpacityInactive: outline } as never;
}

/** Overlays without colours of their own take the palette from here on (the reader's brush starts at its beginning). */
const OVERLAY_PALETTE_OFFSET = 3;
const overlaySegmentationId = (rt: Runtime, key: string) => `${rt.toolGroupId}-overlay-${key}`;
/** NIfTI label volumes by URL (read once per page). */
const labelVolumes = new Map<string, Promise<LabelVolume>>();

function labelVolumeAt(url: string): Promise<LabelVolume> {
  let p = labelVolumes.get(url);
  if (!p) {
    p = (async () => {
      const r = await fetch(url, { credentials: "same-origin" });
      if (!r.ok) {
        const detail = await r.json().then((j: { error?: string }) => j.error, () => null);
        throw new Error(detail ?? `the archive answered ${r.status}`);
      }
      return readLabelVolume(await r.arrayBuffer());
    })();
    p.catch(() => labelVolumes.delete(url));
    labelVolumes.set(url, p);
  }
  return p;
}

/** Writes one labelmap image's values (rows × columns). */
function writeLabelmapImage(img: core.Types.IImage, data: Uint8Array): void {
  if (img.voxelManager) img.voxelManager.setScalarData?.(data as never);
  else (img.getPixelData() as unknown as Uint8Array).set(data);
}

/** Paints run-length slices (by SOP Instance UID and frame) into the labelmap images derived from `s`'s images; returns the values painted. */
function paintSlices(segImages: core.Types.IImage[], s: LoadedSeries, slices: ViewerAnnotations["labelmaps"][number]["slices"]): Set<number> {
  const bySource = new Map(segImages.map((img) => [img.referencedImageId, img]));
  const painted = new Set<number>();
  for (const sl of slices) {
    const img = bySource.get(s.imageIdOf(sl.sopInstanceUid, sl.frame) ?? "");
    if (!img) continue;
    const data = new Uint8Array(img.rows * img.columns);
    decodeRuns(sl.runs, data.length, data);
    for (const r of sl.runs) painted.add(r[2]);
    writeLabelmapImage(img, data);
  }
  return painted;
}

/**
 * An overlay's labelmap on a series: labelmap images derived from the series' images, filled from
 * the SEG's labelmap (by SOP Instance UID and frame) or from the NIfTI volume (each image's plane
 * from cornerstone's metadata). Returns the label values present.
 */
async function fillOverlay(o: LabelOverlay, s: LoadedSeries, segId: string): Promise<number[]> {
  const segImages = await core.imageLoader.createAndCacheDerivedLabelmapImages(s.imageIds);
  let present = new Set<number>();
  if (o.labelmap) present = paintSlices(segImages, s, o.labelmap.slices);
  else if (o.url) {
    const vol = await labelVolumeAt(o.url);
    vol.present.forEach((v) => present.add(v));
    for (const img of segImages) {
      const plane = core.metaData.get("imagePlaneModule", img.referencedImageId ?? "") as
        | { imagePositionPatient?: number[]; rowCosines?: number[]; columnCosines?: number[]; rowPixelSpacing?: number; columnPixelSpacing?: number }
        | undefined;
      if (!plane?.imagePositionPatient || !plane.rowCosines || !plane.columnCosines) continue;
      const data = new Uint8Array(img.rows * img.columns);
      const orientation = [...plane.rowCosines, ...plane.columnCosines];
      if (labelsOnImage(vol, { rows: img.rows, columns: img.columns, position: plane.imagePositionPatient, orientation, pixelSpacing: [plane.rowPixelSpacing ?? 1, plane.columnPixelSpacing ?? 1] }, data)) writeLabelmapImage(img, data);
    }
  }
  if (!present.size) throw new Error("it labels nothing on this series' images (is it a result of another series?)");
  tools.segmentation.addSegmentations([{ segmentationId: segId, representation: { type: tools.Enums.SegmentationRepresentations.Labelmap, data: { imageIds: segImages.map((i) => i.imageId) } } }]);
  return [...present].sort((a, b) => a - b);
}

/** Each overlay of the layout: its labels in their colours once shown, or why it is not shown. */
function OverlayLegend({ overlays, state }: { overlays: LabelOverlay[]; state: Record<string, { labels: SegmentLabel[]; message: string | null }> }) {
  if (!overlays.length) return <OverlaysLoading />;
  return (
    <Group gap="sm" data-testid="overlay-legend">
      {overlays.map((o) => {
        const st = state[o.name];
        if (st?.message) return <Text key={o.name} size="xs" c="orange.8" data-testid={`overlay-message-${o.name}`}>{st.message}</Text>;
        if (!st) return <Text key={o.name} size="xs" c="dimmed">{o.label}: loading…</Text>;
        return (
          <Group key={o.name} gap={6} data-testid={`overlay-${o.name}`}>
            <Text size="xs" fw={500}>{o.label}</Text>
            {st.labels.map((l, i) => {
              const [r, g, b] = labelColor(l, i + OVERLAY_PALETTE_OFFSET);
              return (
                <Group key={l.value} gap={3}>
                  <Box w={10} h={10} style={{ background: `rgb(${r}, ${g}, ${b})`, borderRadius: 2 }} />
                  <Text size="xs">{l.name}</Text>
                </Group>
              );
            })}
          </Group>
        );
      })}
    </Group>
  );
}
