// Before/after of a de-identification setting on one sample file, for the owner who writes the
// setting (the values ARE identifying: callers restrict and audit access). Warns when the setting
// leaves names, IDs, dates or UIDs that the site floor removes as they are.
import { deidentify, type DeidConfig, type Outcome } from "./deid";
import { formatTag, isPrivate, isPrivateCreator, lookupTag, STRING_VRS } from "./dictionary";
import { floorTag, floorTags, RETAIN_OPTIONS, type FloorPolicy } from "./floor";
import { parseDicom, type Dataset, type Element } from "./parse";
import { binaryValue } from "./binary-value";
import { MemoryPseudonymStore } from "./pseudonyms";
import { BufferSource, type ByteSource } from "./source";
import { encodedToBuffer } from "./write";

export type Change = "kept" | "replaced" | "emptied" | "removed" | "added";
export interface PreviewRow {
  /** Path of the element, e.g. "(0010,1002)[0]/(0010,0020)". */
  path: string;
  tag: string;
  keyword: string;
  vr: string;
  before: string | null;
  after: string | null;
  change: Change;
}
export type WarningKind = "name" | "id" | "date" | "uid" | "other";
export interface PreviewWarning {
  kind: WarningKind;
  path: string;
  message: string;
}
export interface Preview {
  rows: PreviewRow[];
  warnings: PreviewWarning[];
  /** What intake would do with this file under the site floor (a quarantine names a path, never a value). */
  outcome: { kind: Outcome["kind"]; reason?: string; elementPath?: string };
}

const MAX_VALUE = 200;

function render(el: Element): string {
  if (el.items) return `(sequence, ${el.items.length} item${el.items.length === 1 ? "" : "s"})`;
  if (el.inSource || el.fragments) return "(pixel data)";
  const b = el.newValue ?? el.buf.subarray(el.valueOffset, el.valueOffset + el.length);
  if (STRING_VRS.has(el.vr)) {
    const s = b.toString("latin1").replace(/[\0 ]+$/, "");
    return s.length > MAX_VALUE ? `${s.slice(0, MAX_VALUE)}…` : s;
  }
  return binaryValue(el.vr, b);
}

function flatten(ds: Dataset, prefix = "", out = new Map<string, Element>()): Map<string, Element> {
  for (const el of ds.elements) {
    const p = prefix + formatTag(el.tag);
    out.set(p, el);
    el.items?.forEach((it, i) => flatten(it, `${p}[${i}]/`, out));
  }
  return out;
}

function kindOf(el: Element, keyword: string): WarningKind {
  if (el.vr === "PN") return "name";
  if (el.vr === "DA" || el.vr === "DT" || el.vr === "TM") return "date";
  if (el.vr === "UI") return "uid";
  if (/(ID|IDs|Number|Numbers)$/.test(keyword)) return "id";
  return "other";
}

/** Runs the setting on the sample twice: once to show every change, once under the real floor. */
export async function previewSetting(
  source: Buffer | ByteSource,
  setting: Pick<DeidConfig, "profile" | "script">,
  policy: FloorPolicy,
): Promise<Preview> {
  const src = Buffer.isBuffer(source) ? new BufferSource(source) : source;
  const before = flatten(parseDicom(src).dataset);
  const base = { projectId: "preview", ...setting, burnedIn: "ignore" as const };
  // Everything approved: the transform's own output, whatever the floor says.
  const open: FloorPolicy = { options: [...RETAIN_OPTIONS], keepTags: [...floorTags().keys()], keepPrivate: true };
  const shown = await deidentify(src, { ...base, store: new MemoryPseudonymStore(), floor: open });
  const real = await deidentify(src, { ...base, store: new MemoryPseudonymStore(), floor: policy });
  const after = shown.kind === "deidentified" ? flatten(parseDicom(new BufferSource(encodedToBuffer(shown.encoded))).dataset) : new Map<string, Element>();

  const identifying = floorTags(policy);
  const rows: PreviewRow[] = [];
  const warnings: PreviewWarning[] = [];
  for (const [p, el] of before) {
    if ((el.tag >>> 16) === 0x0002) continue;
    const keyword = lookupTag(el.tag)?.keyword ?? (isPrivate(el.tag) ? "(private)" : "(unknown)");
    const b = render(el);
    const o = after.get(p);
    const a = o ? render(o) : null;
    const change: Change = shown.kind !== "deidentified" ? "removed" : !o ? "removed" : a === b ? "kept" : a === "" ? "emptied" : "replaced";
    rows.push({ path: p, tag: formatTag(el.tag), keyword, vr: el.vr, before: b, after: shown.kind === "deidentified" ? a : null, change });
    if (change !== "kept" || !b || el.items) continue;
    const floorRemoves = isPrivate(el.tag) ? !isPrivateCreator(el.tag) && !policy.keepPrivate : identifying.has(floorTag(el.tag));
    if (!floorRemoves) continue;
    const kind = kindOf(el, keyword);
    warnings.push({ kind, path: p, message: `${keyword} ${p} is left as it is, and the site floor removes it${kind === "other" ? "" : ` (${kind === "id" ? "an ID" : kind === "uid" ? "a UID" : `a ${kind}`})`}.` });
  }
  for (const [p, el] of after) {
    if (!before.has(p) && (el.tag >>> 16) !== 0x0002) {
      rows.push({ path: p, tag: formatTag(el.tag), keyword: lookupTag(el.tag)?.keyword ?? "(private)", vr: el.vr, before: null, after: render(el), change: "added" });
    }
  }
  const outcome: Preview["outcome"] =
    real.kind === "quarantined" ? { kind: real.kind, reason: real.reason, elementPath: real.elementPath } : real.kind === "skipped" ? { kind: real.kind, reason: real.reason } : { kind: real.kind };
  return { rows, warnings, outcome };
}
