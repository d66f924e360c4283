// The top-level header of a file as rows a person can read (tag, keyword, VR, value). Used for
// the owners' view of quarantined originals: these values ARE identifying; callers audit access.
import { parseDicom, valueBytes, type Dataset } from "./parse";
import { formatTag, lookupTag, STRING_VRS } from "./dictionary";
import type { ByteSource } from "./source";
import { binaryValue } from "./binary-value";

export interface HeaderRow {
  tag: string;
  keyword: string;
  vr: string;
  value: string;
}

const MAX_VALUE = 200;

function render(el: Dataset["elements"][number], littleEndian: boolean): string {
  if (el.items) return `(sequence, ${el.items.length} item${el.items.length === 1 ? "" : "s"})`;
  if (el.inSource || el.fragments) return `(pixel data, ${el.length === 0xffffffff ? "encapsulated" : `${el.length} bytes`})`;
  if (STRING_VRS.has(el.vr)) {
    const s = valueBytes(el).toString("latin1").replace(/[\0 ]+$/, "");
    return s.length > MAX_VALUE ? `${s.slice(0, MAX_VALUE)}…` : s;
  }
  return binaryValue(el.vr, valueBytes(el), littleEndian);
}

export function headerRows(source: ByteSource): { rows: HeaderRow[]; syntax: string } | { error: string } {
  try {
    const parsed = parseDicom(source);
    const rows = [...parsed.meta.elements.map((el) => [el, true] as const), ...parsed.dataset.elements.map((el) => [el, parsed.syntax.littleEndian] as const)].map(([el, le]) => ({
      tag: formatTag(el.tag),
      keyword: lookupTag(el.tag)?.keyword ?? (((el.tag >>> 16) & 1) === 1 ? "(private)" : "(unknown)"),
      vr: el.vr,
      value: render(el, le),
    }));
    return { rows, syntax: parsed.syntax.transferSyntaxUID };
  } catch (e) {
    return { error: `The file cannot be read as DICOM (${(e as { code?: string }).code ?? "unreadable"}).` };
  }
}
