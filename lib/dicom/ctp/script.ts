// CTP DicomAnonymizer scripts: the XML format (<script><p/><e/><k/><r/></script>) and the legacy
// properties format (param./set./keep./remove.), parsed into one model.
import { lookupKeyword, parseTagString } from "../dictionary";

export interface CtpRule {
  tag: number;
  /** Private element reference gggg[creator]ee, resolved per dataset. */
  privateRef?: { group: number; creator: string; element: number };
  name: string;
  script: string;
}

export interface CtpScript {
  params: Map<string, string>;
  rules: CtpRule[];
  keepGroups: Set<number>;
  keepSafePrivate: boolean;
  removePrivateGroups: boolean;
  removeUnspecified: boolean;
  removeCurves: boolean;
  removeOverlays: boolean;
  /** `keyType/value` → replacement (CTP LookupTable.properties). */
  lookup: Map<string, string>;
}

function decodeEntities(s: string): string {
  return s
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&#(\d+);/g, (_, d: string) => String.fromCharCode(Number(d)))
    .replace(/&#x([0-9a-f]+);/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16)))
    .replace(/&amp;/g, "&");
}

function attrs(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /([A-Za-z_][\w.-]*)\s*=\s*("([^"]*)"|'([^']*)')/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s))) out[m[1]] = decodeEntities(m[3] ?? m[4] ?? "");
  return out;
}

function emptyScript(): CtpScript {
  return {
    params: new Map(),
    rules: [],
    keepGroups: new Set(),
    keepSafePrivate: false,
    removePrivateGroups: false,
    removeUnspecified: false,
    removeCurves: false,
    removeOverlays: false,
    lookup: new Map(),
  };
}

/** Resolves an element name (keyword, ggggeeee, (gggg,eeee), [gggg,eeee], gggg[Creator]ee). */
export function resolveElementName(name: string): { tag?: number; privateRef?: CtpRule["privateRef"] } {
  const n = name.trim();
  const priv = /^([0-9a-fA-F]{4})\s*[,]?\s*(?:00)?\[([^\]]*)\]\s*([0-9a-fA-F]{2})$/.exec(n);
  if (priv) return { privateRef: { group: parseInt(priv[1], 16), creator: priv[2].trim().toUpperCase(), element: parseInt(priv[3], 16) } };
  const t = parseTagString(n);
  if (t !== undefined) return { tag: t };
  const k = lookupKeyword(n);
  if (k) return { tag: k.tag };
  return {};
}

function addRule(s: CtpScript, t: string, name: string, script: string): void {
  const r = resolveElementName(t);
  if (r.tag === undefined && !r.privateRef) {
    const byName = resolveElementName(name);
    if (byName.tag === undefined && !byName.privateRef) throw new Error(`script rule names an unknown element "${t}"`);
    Object.assign(r, byName);
  }
  s.rules.push({ tag: r.tag ?? 0, privateRef: r.privateRef, name, script });
}

function setGlobal(s: CtpScript, kind: "k" | "r", t: string): void {
  const v = t.trim().toLowerCase();
  if (kind === "k") {
    if (v === "safeprivateelements") s.keepSafePrivate = true;
    else if (/^(group)?[0-9a-f]{4}$/.test(v)) s.keepGroups.add(parseInt(v.slice(-4), 16));
    else throw new Error(`unknown keep option "${t}"`);
  } else {
    if (v === "privategroups") s.removePrivateGroups = true;
    else if (v === "unspecifiedelements") s.removeUnspecified = true;
    else if (v === "curves") s.removeCurves = true;
    else if (v === "overlays") s.removeOverlays = true;
    else throw new Error(`unknown remove option "${t}"`);
  }
}

/** Parses a CTP anonymizer script (XML or legacy properties). Throws with a line-free message on error. */
export function parseCtpScript(text: string): CtpScript {
  const s = emptyScript();
  const trimmed = text.replace(/^\uFEFF/, "").trim();
  if (trimmed.startsWith("<")) {
    const body = trimmed.replace(/<\?xml[^>]*\?>/, "").replace(/<!--[\s\S]*?-->/g, "");
    if (!/<script[\s>]/.test(body)) throw new Error("XML script has no <script> root");
    const re = /<(p|e|k|r)\b([^>]*?)(?:\/>|>([\s\S]*?)<\/\1\s*>)/g;
    let m: RegExpExecArray | null;
    while ((m = re.exec(body))) {
      const kind = m[1] as "p" | "e" | "k" | "r";
      const a = attrs(m[2]);
      const content = decodeEntities(m[3] ?? "");
      const enabled = (a.en ?? "T").toUpperCase() !== "F";
      if (kind === "p") {
        if (a.t) s.params.set(a.t.toUpperCase(), content.trim());
        continue;
      }
      if (!enabled) continue;
      if (kind === "e") addRule(s, a.t ?? "", a.n ?? "", content.trim());
      else setGlobal(s, kind, a.t ?? "");
    }
    return s;
  }
  for (const raw of trimmed.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    const key = eq >= 0 ? line.slice(0, eq).trim() : line;
    const value = eq >= 0 ? line.slice(eq + 1).trim() : "";
    if (key.startsWith("param.")) s.params.set(key.slice(6).toUpperCase(), value);
    else if (key.startsWith("set.")) {
      const m = /^set\.\[([0-9a-fA-F]{4}),([0-9a-fA-F]{4})\](.*)$/.exec(key);
      if (!m) throw new Error("malformed set. line");
      addRule(s, `${m[1]}${m[2]}`, m[3], value);
    } else if (key.startsWith("keep.")) setGlobal(s, "k", key.slice(5));
    else if (key.startsWith("remove.")) setGlobal(s, "r", key.slice(7));
  }
  return s;
}

/** Parses a Java properties lookup table (`keyType/value = replacement`). */
export function parseLookupProperties(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith("#") || line.startsWith("!")) continue;
    const i = line.search(/[=:]/);
    if (i < 0) continue;
    m.set(line.slice(0, i).trim().replace(/\\(.)/g, "$1"), line.slice(i + 1).trim());
  }
  return m;
}
