// A series' WADO-RS metadata from Atrium's DICOMweb, fetched once per page and shared: pages start
// it as soon as they know the series (while the viewer's cornerstone3D chunk is still loading), the
// viewer reads the same promise. No cornerstone3D here, so pages can import it cheaply.
export interface SeriesKey {
  projectId: string;
  studyInstanceUid: string;
  seriesInstanceUid: string;
}

export type DicomJson = Record<string, { vr: string; Value?: unknown[]; BulkDataURI?: string; InlineBinary?: string }>;

export function dicomwebRoot(projectId: string): string {
  return `${window.location.origin}/dicomweb/projects/${encodeURIComponent(projectId)}`;
}

export function seriesBase(ref: SeriesKey): string {
  return `${dicomwebRoot(ref.projectId)}/studies/${ref.studyInstanceUid}/series/${ref.seriesInstanceUid}`;
}

const fetched = new Map<string, Promise<DicomJson[]>>();

/** The series' instances as DICOM JSON (one request per series and page; a failure is forgotten, so a retry asks again). */
export function seriesMetadata(ref: SeriesKey): Promise<DicomJson[]> {
  const key = `${ref.projectId}/${ref.studyInstanceUid}/${ref.seriesInstanceUid}`;
  let p = fetched.get(key);
  if (!p) {
    p = fetchMetadata(ref);
    p.catch(() => fetched.delete(key));
    fetched.set(key, p);
  }
  return p;
}

async function fetchMetadata(ref: SeriesKey): Promise<DicomJson[]> {
  performance.mark(`atrium:metadata-start:${ref.seriesInstanceUid}`);
  const r = await fetch(`${seriesBase(ref)}/metadata`, { headers: { accept: "application/dicom+json" }, credentials: "same-origin" });
  if (!r.ok) {
    let detail = "";
    try {
      detail = ((await r.json()) as { error?: string }).error ?? "";
    } catch {
      // not JSON
    }
    if (r.status === 401) throw new Error("Your session has ended: sign in again to see the images.");
    if (r.status === 403) throw new Error(detail || "You may not read this series' images in this project; ask an owner.");
    if (r.status === 404) throw new Error("This series is not in the project's archive (it may have been removed).");
    throw new Error(`The archive could not give this series' metadata (HTTP ${r.status})${detail ? `: ${detail}` : ""}.`);
  }
  const json = (await r.json()) as DicomJson[];
  performance.mark(`atrium:metadata-end:${ref.seriesInstanceUid}`);
  return json;
}
