// cornerstone3D set-up and series loading from Atrium's DICOMweb (WADO-RS metadata + frames, with
// the signed-in user's session cookie), taking the frames the page fetched ahead
// (series-metadata.ts): decoded ones become images here, others go through the loader's decoder.
// Imported only by Viewer.tsx, which pages load on demand in the browser (index.tsx ViewerLazy):
// nothing here reaches another page's bundle or the server.
import * as core from "@cornerstonejs/core";
import * as tools from "@cornerstonejs/tools";
import dicomImageLoader from "@cornerstonejs/dicom-image-loader";
import { Enums as MetadataEnums, utilities as metadataUtilities } from "@cornerstonejs/metadata";
import type { DecodedNativeFrame } from "@/lib/viewer/native-frame";
import { orderSeries } from "./series-frames";
import { fetchFramesAtFullPace, frameAhead, seriesBase, seriesKeyOf, seriesMetadata, SINGLE_FRAME_ACCEPT, takeDecodedFrame, takeFrameBytes, type DicomJson } from "./series-metadata";

performance.mark("atrium:viewer-code-loaded");
fetchFramesAtFullPace();

let initialised: Promise<void> | null = null;
let imagesFromDecodedFrames = 0;

/** How many images this page made from frames decoded where they were fetched (the rest went through the loader's decoder). */
export const decodedFrameImages = () => imagesFromDecodedFrames;

/** Initialises cornerstone3D core, the DICOM image loader (with its wasm codecs in a worker) and tools, once. */
export function initCornerstone(): Promise<void> {
  initialised ??= (async () => {
    performance.mark("atrium:cornerstone-init-start");
    await core.init();
    const workers = Math.max(1, Math.min(3, (navigator.hardwareConcurrency || 2) - 1));
    // One frame per request, answered as a single part (PS3.18 allows it for one frame): the loader
    // then takes the body as the frame, instead of scanning each 512 KB frame for the multipart
    // boundary and copying it out (half of the main thread's time per image of a CT).
    dicomImageLoader.init({ maxWebWorkers: workers, beforeSend: (_xhr: XMLHttpRequest, imageId: string) => (imageId.startsWith("wadors:") && imageId.includes("/frames/") ? { Accept: SINGLE_FRAME_ACCEPT } : {}) } as never);
    // Frames the page fetched ahead are handed to the loader as its "compressed frame data" (the
    // loader's registry path: decoded as if they had just arrived, with no request of its own).
    const COMPRESSED_FRAME_DATA = MetadataEnums.MetadataModules.COMPRESSED_FRAME_DATA;
    core.metaData.addProvider((type: string, imageId: unknown) => (type === COMPRESSED_FRAME_DATA && typeof imageId === "string" && imageId.startsWith("wadors:") ? takeFrameBytes(imageId.slice("wadors:".length)) : undefined), 10_000);
    // Frames decoded where they were fetched (native grayscale) become images here, without the
    // loader's round trip through its decoding worker; every other frame is the loader's.
    const wadorsLoader = dicomImageLoader.wadors.loadImage as unknown as (imageId: string, options?: Record<string, unknown>) => core.Types.IImageLoadObject;
    core.imageLoader.registerImageLoader("wadors", ((imageId: string, options?: Record<string, unknown>) => {
      // A volume's target buffer, or an image asked for unscaled, is the loader's to make.
      const asDecoded = !options?.targetBuffer && (options?.preScale as { enabled?: boolean } | undefined)?.enabled !== false;
      const frame = asDecoded ? takeDecodedFrame(imageId.slice("wadors:".length)) : undefined;
      const image = frame ? imageOfDecodedFrame(imageId, frame.decoded, frame.transferSyntaxUid) : null;
      if (!image) return wadorsLoader(imageId, options);
      imagesFromDecodedFrames++;
      return { promise: Promise.resolve(image) };
    }) as never);
    core.volumeLoader.registerUnknownVolumeLoader(core.cornerstoneStreamingImageVolumeLoader as never);
    core.volumeLoader.registerVolumeLoader("cornerstoneStreamingImageVolume", core.cornerstoneStreamingImageVolumeLoader as never);
    // The retrieval pool fetches this many frames at once (HTTP/1.1 on localhost, small frames).
    core.imageRetrievalPoolManager.setMaxSimultaneousRequests(core.Enums.RequestType.Interaction, 12);
    core.imageRetrievalPoolManager.setMaxSimultaneousRequests(core.Enums.RequestType.Prefetch, 12);
    tools.init();
    for (const T of [
      tools.WindowLevelTool, tools.PanTool, tools.ZoomTool, tools.StackScrollTool, tools.LengthTool, tools.AngleTool,
      tools.EllipticalROITool, tools.RectangleROITool, tools.ProbeTool, tools.BrushTool, tools.EraserTool,
    ]) {
      tools.addTool(T);
    }
    performance.mark("atrium:cornerstone-init-end");
  })();
  return initialised;
}

/**
 * The image cornerstone3D's DICOM image loader would make of a decoded native frame (its
 * createImage, for a grayscale frame with preScale on), or null when cornerstone's metadata for the
 * image disagrees with what the frame was decoded by: the loader then fetches and decodes it itself.
 */
function imageOfDecodedFrame(imageId: string, frame: DecodedNativeFrame, transferSyntaxUID: string): core.Types.IImage | null {
  const start = Date.now();
  type Module = Record<string, unknown>;
  const get = (module: string) => (core.metaData.get(module, imageId) ?? {}) as Module;
  const pixel = get("imagePixelModule");
  const { spec } = frame;
  if (pixel.rows !== spec.rows || pixel.columns !== spec.columns || pixel.bitsAllocated !== spec.bitsAllocated || pixel.pixelRepresentation !== spec.pixelRepresentation || pixel.photometricInterpretation !== spec.photometricInterpretation || (pixel.samplesPerPixel ?? 1) !== 1) return null;
  const modalityLut = get("modalityLutModule");
  const modality = get("generalSeriesModule").modality as string | undefined;
  const slope = (modalityLut.rescaleSlope as number | undefined) ?? 1;
  const intercept = (modalityLut.rescaleIntercept as number | undefined) ?? 0;
  if (slope !== (spec.rescale?.slope ?? 1) || intercept !== (spec.rescale?.intercept ?? 0) || modality === "PT" || modality === "RTDOSE" || (modalityLut.modalityLUTSequence as unknown[] | undefined)?.length) return null;
  const imagePlane = get("imagePlaneModule");
  const voiLut = get("voiLutModule");
  const preScale = frame.preScale ? { ...frame.preScale, scalingParameters: { ...frame.preScale.scalingParameters, modality } } : undefined;
  const imageFrame = {
    samplesPerPixel: 1, photometricInterpretation: spec.photometricInterpretation, planarConfiguration: pixel.planarConfiguration, rows: spec.rows, columns: spec.columns,
    bitsAllocated: spec.bitsAllocated, bitsStored: pixel.bitsStored, pixelRepresentation: spec.pixelRepresentation, imageId,
    pixelData: frame.pixelData, pixelDataLength: frame.pixelData.length, smallestPixelValue: frame.min, largestPixelValue: frame.max, preScale, decodeTimeInMS: frame.decodeTimeInMS,
  };
  const voxelManager = core.utilities.VoxelManager.createImageVoxelManager({ scalarData: frame.pixelData as never, width: spec.columns, height: spec.rows, numberOfComponents: 1 });
  const windowCenter = (voiLut.windowCenter as number[] | undefined)?.[0];
  const windowWidth = (voiLut.windowWidth as number[] | undefined)?.[0];
  const fallbackWindow = windowCenter === undefined || windowWidth === undefined ? core.utilities.windowLevel.toWindowLevel(frame.min, frame.max) : null;
  const voiLutFunction = voiLut.voiLUTFunction as string[] | undefined;
  const voiLutSequence = voiLut.voiLUTSequence as unknown[] | undefined;
  return {
    imageId, dataType: frame.pixelData.constructor.name, color: false, calibration: get("calibrationModule"),
    columnPixelSpacing: imagePlane.columnPixelSpacing, rowPixelSpacing: imagePlane.rowPixelSpacing, columns: spec.columns, rows: spec.rows, width: spec.columns, height: spec.rows,
    preScale, intercept: modalityLut.rescaleIntercept || 0, slope: modalityLut.rescaleSlope || 1, invert: spec.photometricInterpretation === "MONOCHROME1",
    minPixelValue: frame.min, maxPixelValue: frame.max, sizeInBytes: frame.pixelData.byteLength,
    windowCenter: fallbackWindow?.windowCenter ?? windowCenter, windowWidth: fallbackWindow?.windowWidth ?? windowWidth,
    voiLUTFunction: (voiLutFunction?.length && voiLutFunction[0]) || (voiLut.voiLutFunction as string | undefined) || undefined,
    ...(voiLutSequence?.length ? { voiLUT: voiLutSequence[0] } : {}),
    decodeTimeInMS: frame.decodeTimeInMS, floatPixelData: undefined, imageFrame, voxelManager, rgba: false,
    getPixelData: () => imageFrame.pixelData, getCanvas: undefined, numberOfComponents: 1,
    loadTimeInMS: Date.now() - start, transferSyntaxUID, imageQualityStatus: core.Enums.ImageQualityStatus.FULL_RESOLUTION,
  } as unknown as core.Types.IImage;
}

/** The series a viewport shows, resolved by the caller from the template's selector. */
export interface SeriesRef {
  projectId: string;
  studyInstanceUid: string;
  seriesInstanceUid: string;
  /** Pseudonymous labels shown in the viewport's corner (never a patient name or ID). */
  subjectLabel?: string | null;
  experimentLabel?: string | null;
}

export interface LoadedSeries {
  key: string;
  imageIds: string[];
  volumeCapable: boolean;
  description: string | null;
  seriesNumber: number | null;
  modality: string | null;
  /** Set when the series has nothing to show (no pixel data): the message says what it is instead. */
  noPixels: string | null;
  /** imageId → SOP Instance UID and frame, for annotations. */
  refOf: Map<string, { sopInstanceUid: string; frame: number }>;
  imageIdOf: (sopInstanceUid: string, frame: number) => string | undefined;
}

const str = (j: DicomJson, tag: string): string | null => {
  const v = j[tag]?.Value?.[0];
  return v == null ? null : String(v);
};

const NON_IMAGE: Record<string, string> = {
  SR: "a structured report",
  SEG: "a segmentation (shown as an overlay on its image series)",
  RTSTRUCT: "an RT structure set",
  RTPLAN: "an RT plan",
  ECG: "a waveform",
  PR: "a presentation state",
  KO: "a key object selection",
  DOC: "an encapsulated document",
  ANN: "a bulk annotation",
};

const cache = new Map<string, Promise<LoadedSeries>>();

/** Fetches a series' WADO-RS metadata, registers it with the loader and returns its imageIds in display order. */
export function loadSeries(ref: SeriesRef): Promise<LoadedSeries> {
  const key = seriesKeyOf(ref);
  let p = cache.get(key);
  if (!p) {
    p = fetchSeries(ref, key);
    p.catch(() => cache.delete(key));
    cache.set(key, p);
  }
  return p;
}

async function fetchSeries(ref: SeriesRef, key: string): Promise<LoadedSeries> {
  const instances = await seriesMetadata(ref);
  const first = instances[0];
  const modality = first ? str(first, "00080060") : null;
  const description = first ? str(first, "0008103E") : null;
  const seriesNumber = first && str(first, "00200011") ? Number(str(first, "00200011")) : null;
  const refOf = new Map<string, { sopInstanceUid: string; frame: number }>();
  const base = seriesBase(ref);
  const { ordered, volumeCapable } = orderSeries(base, instances);
  if (ordered.length === 0) {
    const what = (modality && NON_IMAGE[modality]) ?? "not an image";
    return {
      key, imageIds: [], volumeCapable: false, description, seriesNumber, modality, refOf, imageIdOf: () => undefined,
      noPixels: `This series has no pixel data to show: it is ${what}${instances.length ? ` (${instances.length} instance${instances.length === 1 ? "" : "s"})` : ""}.`,
    };
  }
  const imageIds: string[] = [];
  for (const g of ordered) {
    const frame1 = `wadors:${base}/instances/${g.sopInstanceUid}/frames/1`;
    dicomImageLoader.wadors.metaDataManager.add(frame1, g.json as never);
    try {
      // The typed metadata provider (@cornerstonejs/metadata); the legacy wadors provider above suffices if it refuses.
      const r = metadataUtilities.addDicomWebInstance(frame1, g.json) as unknown;
      if (r && typeof (r as Promise<unknown>).catch === "function") (r as Promise<unknown>).catch(() => undefined);
    } catch {
      // see above
    }
    for (let f = 1; f <= g.frames; f++) {
      const id = `wadors:${base}/instances/${g.sopInstanceUid}/frames/${f}`;
      imageIds.push(id);
      refOf.set(id, { sopInstanceUid: g.sopInstanceUid, frame: f });
    }
  }
  return {
    key, imageIds, volumeCapable, description, seriesNumber, modality, noPixels: null, refOf,
    imageIdOf: (sop, frame) => `wadors:${base}/instances/${sop}/frames/${frame}`,
  };
}

/**
 * Loads (and caches) one image; a frame the page is fetching ahead (series-metadata
 * fetchSeriesFrames) is waited for first, so the loader takes its bytes instead of asking again.
 */
export async function loadImage(imageId: string, priority: number, requestType: core.Enums.RequestType): Promise<unknown> {
  const frame = imageId.startsWith("wadors:") ? frameAhead(imageId.slice("wadors:".length)) : undefined;
  if (frame) await frame;
  return core.imageLoader.loadAndCacheImage(imageId, { priority, requestType } as never);
}

/**
 * Loads (and caches) every image of a series, nearest to `start` first, `concurrency` at a time;
 * `onEach` is told of each one (loaded or failed). Stops when `signal` aborts.
 */
export async function streamImages(imageIds: string[], start: number, signal: AbortSignal, onEach: (imageId: string, error?: unknown) => void, concurrency = 8): Promise<void> {
  const order: string[] = [];
  for (let d = 0; order.length < imageIds.length; d++) {
    if (start + d < imageIds.length) order.push(imageIds[start + d]!);
    if (d > 0 && start - d >= 0) order.push(imageIds[start - d]!);
  }
  let next = 0;
  const worker = async () => {
    while (next < order.length && !signal.aborted) {
      const id = order[next++]!;
      try {
        await loadImage(id, 5, core.Enums.RequestType.Prefetch);
        onEach(id);
      } catch (e) {
        onEach(id, e);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, order.length) }, worker));
}

export { core, tools };
