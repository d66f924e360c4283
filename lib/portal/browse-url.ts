// Where the Browse tab is, as URL search parameters, so Back, reload and links keep the place:
// ?tab=browse&subject=LABEL&experiment=ID&scan=ID, or a search across subjects
// (?tab=browse&modality=MR&text=brain&from=2024-01-01&to=2024-12-31). Labels are pseudonyms and ids
// are the archive's own, so they may appear in URLs (no PHI).
export interface BrowseSearchParams {
  modality?: string;
  text?: string;
  from?: string;
  to?: string;
}

export interface BrowseLocation {
  subject?: string;
  experiment?: string;
  scan?: string;
  search?: BrowseSearchParams;
}

const SEARCH_KEYS = ["modality", "text", "from", "to"] as const;

export function parseBrowseLocation(params: { get(name: string): string | null }): BrowseLocation {
  const v = (k: string) => params.get(k)?.trim() || undefined;
  const search: BrowseSearchParams = {};
  for (const k of SEARCH_KEYS) {
    const x = v(k);
    if (x) search[k] = x;
  }
  const subject = v("subject");
  const experiment = subject ? v("experiment") : undefined;
  const scan = experiment ? v("scan") : undefined;
  return {
    ...(subject ? { subject } : {}),
    ...(experiment ? { experiment } : {}),
    ...(scan ? { scan } : {}),
    ...(Object.keys(search).length ? { search } : {}),
  };
}

/** The query string (without "?") of a Browse location. */
export function browseQuery(loc: BrowseLocation): string {
  const q = new URLSearchParams({ tab: "browse" });
  if (loc.subject) q.set("subject", loc.subject);
  if (loc.subject && loc.experiment) q.set("experiment", loc.experiment);
  if (loc.subject && loc.experiment && loc.scan) q.set("scan", loc.scan);
  for (const k of SEARCH_KEYS) if (loc.search?.[k]) q.set(k, loc.search[k]!);
  return q.toString();
}
