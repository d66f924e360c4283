// Reading the URIs XNAT returns: the import service answers with a text/uri-list (one URI per
// line, each terminated by CRLF, wrapped with /data), or one plain URI with text/plain; prearchive
// rows carry their url without /data.

export type XnatUri =
  | { kind: "archive"; uri: string; project: string; subject: string; experiment: string }
  | { kind: "prearchive"; uri: string; project: string; timestamp: string; folder: string }
  | { kind: "experiment"; uri: string; experiment: string }
  | { kind: "direct-archive"; uri: string; project: string }
  | { kind: "other"; uri: string };

/** Splits a text/uri-list (CRLF or LF), dropping blank lines and `#` comments (RFC 2483). */
export function parseUriList(text: string): string[] {
  return text
    .split(/\r?\n|\r/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !l.startsWith("#"));
}

function seg(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Classifies one XNAT URI (absolute URLs, /data, /REST or bare forms are accepted). */
export function parseXnatUri(input: string): XnatUri {
  let uri = input.trim();
  if (/^https?:\/\//i.test(uri)) uri = new URL(uri).pathname;
  uri = uri.split("?")[0]!;
  const bare = uri.replace(/^\/(data|REST)(?=\/)/i, "");
  const parts = bare.split("/").filter(Boolean).map(seg);
  const canonical = `/data${bare}`;
  // /archive/projects/P/subjects/S/experiments/E  and  /projects/P/subjects/S/experiments/E
  const a = parts[0] === "archive" ? parts.slice(1) : parts;
  if (a.length === 6 && a[0] === "projects" && a[2] === "subjects" && a[4] === "experiments") {
    return { kind: "archive", uri: canonical, project: a[1]!, subject: a[3]!, experiment: a[5]! };
  }
  if (parts[0] === "prearchive" && parts[1] === "projects" && parts.length === 5) {
    return { kind: "prearchive", uri: canonical, project: parts[2]!, timestamp: parts[3]!, folder: parts[4]! };
  }
  if (a.length === 2 && a[0] === "experiments") return { kind: "experiment", uri: canonical, experiment: a[1]! };
  if (parts[0] === "xapi" || /^\/xapi\//.test(uri)) {
    const m = /^\/xapi\/direct-archive\/([^/]+)\//.exec(uri);
    if (m) return { kind: "direct-archive", uri, project: seg(m[1]!) };
  }
  return { kind: "other", uri };
}

/** Path of a prearchive session, as used in `src=` parameters and row `url` fields (no /data). */
export function prearchivePath(ref: { project: string; timestamp: string; folder: string }): string {
  return `/prearchive/projects/${encodeURIComponent(ref.project)}/${encodeURIComponent(ref.timestamp)}/${encodeURIComponent(ref.folder)}`;
}
