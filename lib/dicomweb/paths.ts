// The DICOMweb resources under /dicomweb/projects/{projectId}/studies/…, parsed from the path
// segments after "studies/" (PS3.18 §10.4 WADO-RS, §10.6 QIDO-RS). UIDs are checked here, so
// everything downstream gets valid UIDs only.
export type Resource =
  | { kind: "qido"; level: "series" | "instance"; study: string; series?: string }
  | { kind: "retrieve"; study: string; series?: string; instance?: string }
  | { kind: "metadata"; study: string; series?: string; instance?: string }
  | { kind: "thumbnail"; study: string; series?: string; instance?: string; frames?: string }
  /** Without an instance: the series' first image in display order (`?image=first`, Atrium's viewer). */
  | { kind: "rendered"; study: string; series: string; instance?: string; frames?: string }
  | { kind: "frames"; study: string; series: string; instance: string; frames: string }
  /** Every frame of the series in display order, one part each (Atrium's viewer: one request instead of one per frame). */
  | { kind: "pixeldata"; study: string; series: string }
  | { kind: "bulkdata"; study: string; series: string; instance: string; path: string[] };

export type ParsedPath = { ok: true; resource: Resource } | { ok: false; status: 400 | 404; message: string };

const UID = /^[0-9]+(\.[0-9]+)*$/;
const isUid = (s: string | undefined): s is string => s !== undefined && s.length <= 64 && UID.test(s);

const NOT_FOUND: ParsedPath = {
  ok: false,
  status: 404,
  message:
    "Not a DICOMweb resource Atrium serves. Under /dicomweb/projects/{projectId}/studies: {study}[/metadata|/thumbnail|/series|/instances], {study}/series/{series}[/metadata|/rendered?image=first|/pixeldata|/thumbnail|/instances], …/instances/{instance}[/metadata|/rendered|/thumbnail|/frames/{list}[/rendered|/thumbnail]|/bulkdata/{tag path}].",
};

/** Parses the segments after ".../studies/" (already URL-decoded). */
export function parseResource(segments: string[]): ParsedPath {
  const seg = segments.filter((s, i) => s !== "" || i < segments.length - 1);
  const [study, a, series, b, instance, c, d, e, ...rest] = seg;
  if (!study) return NOT_FOUND;
  const badUid = (what: string): ParsedPath => ({ ok: false, status: 400, message: `The ${what} in the URL is not a valid UID (digits and dots, at most 64 characters).` });
  if (!isUid(study)) return badUid("Study Instance UID");
  if (a === undefined) return { ok: true, resource: { kind: "retrieve", study } };
  if (series === undefined) {
    if (a === "metadata") return { ok: true, resource: { kind: "metadata", study } };
    if (a === "thumbnail") return { ok: true, resource: { kind: "thumbnail", study } };
    if (a === "series") return { ok: true, resource: { kind: "qido", level: "series", study } };
    if (a === "instances") return { ok: true, resource: { kind: "qido", level: "instance", study } };
    return NOT_FOUND;
  }
  if (a !== "series") return NOT_FOUND;
  if (!isUid(series)) return badUid("Series Instance UID");
  if (b === undefined) return { ok: true, resource: { kind: "retrieve", study, series } };
  if (instance === undefined) {
    if (b === "metadata") return { ok: true, resource: { kind: "metadata", study, series } };
    if (b === "thumbnail") return { ok: true, resource: { kind: "thumbnail", study, series } };
    if (b === "rendered") return { ok: true, resource: { kind: "rendered", study, series } };
    if (b === "pixeldata") return { ok: true, resource: { kind: "pixeldata", study, series } };
    if (b === "instances") return { ok: true, resource: { kind: "qido", level: "instance", study, series } };
    return NOT_FOUND;
  }
  if (b !== "instances") return NOT_FOUND;
  if (!isUid(instance)) return badUid("SOP Instance UID");
  const ids = { study, series, instance };
  if (c === undefined) return { ok: true, resource: { kind: "retrieve", ...ids } };
  if (c === "bulkdata") {
    const path = [d, e, ...rest].filter((x): x is string => x !== undefined);
    if (!path.length) return NOT_FOUND;
    return { ok: true, resource: { kind: "bulkdata", ...ids, path } };
  }
  if (d === undefined) {
    if (c === "metadata") return { ok: true, resource: { kind: "metadata", ...ids } };
    if (c === "rendered") return { ok: true, resource: { kind: "rendered", ...ids } };
    if (c === "thumbnail") return { ok: true, resource: { kind: "thumbnail", ...ids } };
    return NOT_FOUND;
  }
  if (c !== "frames" || rest.length) return NOT_FOUND;
  if (e === undefined) return { ok: true, resource: { kind: "frames", ...ids, frames: d } };
  if (e === "rendered") return { ok: true, resource: { kind: "rendered", ...ids, frames: d } };
  if (e === "thumbnail") return { ok: true, resource: { kind: "thumbnail", ...ids, frames: d } };
  return NOT_FOUND;
}

/**
 * Whether a resource returns the stored files' bytes (WADO-RS retrieve, metadata, frames, bulk
 * data): those follow the project's download rule. QIDO, rendered images and thumbnails do not.
 */
export function returnsStoredBytes(r: Resource): boolean {
  return r.kind === "retrieve" || r.kind === "metadata" || r.kind === "frames" || r.kind === "pixeldata" || r.kind === "bulkdata";
}
