// A series' frames as the viewer fetches them ahead: their display order (lib/viewer
// orderInstances), URLs and how each is decoded where it is fetched (lib/viewer native-frame), and
// the protocol between the page and the frame fetcher worker (frame-fetcher.worker.ts). No window
// and no cornerstone3D here: the worker, the page and the server (the HTML's early start) import it.
import { nativeFrameSpec } from "@/lib/viewer/native-frame";
import { orderInstances } from "@/lib/viewer/order";
import type { FetchedFrame, FramePace, FrameToFetch } from "./fetch-frame";

export type DicomJson = Record<string, { vr: string; Value?: unknown[]; BulkDataURI?: string; InlineBinary?: string }>;

/** The Accept of a frame request: the stored bytes as one part (compressed ones keep their transfer syntax). */
export const SINGLE_FRAME_ACCEPT = "application/octet-stream; transfer-syntax=*";
/**
 * How fast frames are fetched: while the viewer's code loads, two at a time and behind the page's
 * own requests (its scripts share the browser's 6 connections to the host, and the two cores of a
 * small machine); then 6 at once, the browser's HTTP/1.1 connections per host.
 */
export const PACE_WHILE_CODE_LOADS: FramePace = { lanes: 2, priority: "low" };
export const FULL_PACE: FramePace = { lanes: 6, priority: "auto" };
export const METADATA_ACCEPT = "application/dicom+json";

/** What the page (or its HTML) asks the frame fetcher. */
export type FrameFetchRequest =
  /** These frames (the page knows the series' metadata). */
  | { kind: "fetch"; series: string; seriesUrl: string; frames: FrameToFetch[]; accept: string; pace: FramePace }
  /** The series' metadata, sent back as it came, then (with `frames`) its frames in display order. */
  | { kind: "series"; series: string; seriesPath: string; frames: boolean; accept: string; pace: FramePace }
  /** Every series' frames from now on at this pace. */
  | { kind: "pace"; pace: FramePace }
  | { kind: "cancel"; series: string };

/** What it answers: each frame, the end of a series' frames, and a series' metadata. */
export type FrameFetchResult =
  | { kind: "frame"; series: string; url: string; frame: FetchedFrame | null }
  | { kind: "frames-done"; series: string }
  /** `status` 0: no answer (a network error); `text` is the DICOM JSON when ok. */
  | { kind: "metadata"; series: string; ok: true; text: string; framesComing: boolean }
  | { kind: "metadata"; series: string; ok: false; status: number; detail: string };

const str = (j: DicomJson, tag: string): string | null => {
  const v = j[tag]?.Value?.[0];
  return v == null ? null : String(v);
};
const nums = (j: DicomJson, tag: string): number[] | null => {
  const v = j[tag]?.Value;
  return v ? v.map(Number) : null;
};

export interface OrderedInstance {
  json: DicomJson;
  /** The archive's own instance UID (what its frame URLs use), from the pixel data's BulkDataURI. */
  sopInstanceUid: string;
  instanceNumber: number | null;
  position: number[] | null;
  orientation: number[] | null;
  frames: number;
}

/**
 * The series' instances with pixel data in the viewer's display order (lib/viewer orderInstances),
 * and each frame in that order: its URL under `seriesUrl` (the series' DICOMweb URL, with its
 * origin), and how to decode it where it is fetched (native grayscale).
 */
export function orderSeries(seriesUrl: string, instances: DicomJson[]): { ordered: OrderedInstance[]; volumeCapable: boolean; frames: FrameToFetch[] } {
  const withPixels = instances.filter((j) => j["7FE00010"] || j["7FE00008"] || j["7FE00009"]);
  const archivedUid = (j: DicomJson) => {
    const uri = j["7FE00010"]?.BulkDataURI ?? j["7FE00008"]?.BulkDataURI ?? j["7FE00009"]?.BulkDataURI;
    const m = uri ? /\/instances\/([0-9.]+)\/bulkdata/.exec(uri) : null;
    return m?.[1] ?? str(j, "00080018") ?? "";
  };
  const geometry = withPixels.map((j) => ({
    json: j,
    sopInstanceUid: archivedUid(j),
    instanceNumber: str(j, "00200013") != null ? Number(str(j, "00200013")) : null,
    position: nums(j, "00200032"),
    orientation: nums(j, "00200037"),
    frames: Math.max(1, Number(str(j, "00280008") ?? 1) || 1),
  }));
  const { ordered, volumeCapable } = orderInstances(geometry);
  const frames = ordered.flatMap((g) => {
    const spec = nativeFrameSpec(g.json);
    return Array.from({ length: g.frames }, (_, f) => ({ url: `${seriesUrl}/instances/${g.sopInstanceUid}/frames/${f + 1}`, spec }));
  });
  return { ordered, volumeCapable, frames };
}
