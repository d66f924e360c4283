// The verification pass: the identifying values of the input must not occur anywhere in the
// output — in any element at any depth (private blocks included) or anywhere in the raw bytes we
// wrote. Only the pixel data value, copied unchanged from the input, is not searched.
//
// Minimum needle ("identifying value") rules, to avoid false positives from short values while
// still catching real identifiers:
//   * a value is split into its `\` values and, for PN, into its `^`/`=` components; the whole
//     value and each part are candidate needles, compared case-insensitively (ASCII);
//   * a needle with at least one letter needs >= 4 characters ("Y", "MR", "LI" are skipped);
//   * a needle of digits and punctuation only (numbers, dates, UIDs) needs >= 6 characters
//     (a DA date has 8; "120", "1.5" are skipped);
//   * a needle that is contained in a value the engine wrote itself (pseudonym, dummy values,
//     new UIDs, shifted dates) or in a standard element the profile keeps unchanged is dropped:
//     by the profile's own definition that text is not identifying (e.g. a Study Description
//     "HEAD" equal to Body Part Examined "HEAD"). Private elements never justify dropping a needle.
import { asciiLower, asciiLowerString } from "./values";
import { searchableParts, spanPath, type EncodedFile, type Span } from "./write";
import { formatTag } from "./dictionary";

export const MIN_ALPHA_NEEDLE = 4;
export const MIN_NUMERIC_NEEDLE = 6;

export interface Needle {
  /** Lower-cased latin1 (byte) string. */
  text: string;
  /** Where the value came from (tag path in the input) — a path, never the value. */
  from: string;
}

export class NeedleSet {
  private map = new Map<string, string>();
  add(value: string, vr: string, from: string): void {
    const parts = new Set<string>();
    for (const v of value.split("\\")) {
      const t = v.replace(/[\0 ]+$/, "").trim();
      if (!t) continue;
      parts.add(t);
      if (vr === "PN") {
        for (const c of t.split(/[\^=]/)) if (c.trim()) parts.add(c.trim());
      }
    }
    for (const p of parts) {
      if (!qualifies(p)) continue;
      const low = asciiLowerString(p);
      if (!this.map.has(low)) this.map.set(low, from);
    }
  }
  /** Drops needles contained in any of the given (lower-cased) texts. */
  dropContainedIn(texts: Iterable<string>): void {
    const all = [...texts].filter(Boolean).join("\u0001");
    if (!all) return;
    for (const n of [...this.map.keys()]) if (all.includes(n)) this.map.delete(n);
  }
  list(): Needle[] {
    return [...this.map].map(([text, from]) => ({ text, from }));
  }
  texts(): string[] {
    return [...this.map.keys()];
  }
  get size(): number {
    return this.map.size;
  }
}

export function qualifies(s: string): boolean {
  if (/[A-Za-z\u0080-\uFFFF]/.test(s)) return s.length >= MIN_ALPHA_NEEDLE && !/^(.)\1*$/.test(s);
  return s.length >= MIN_NUMERIC_NEEDLE && !/^(.)\1*$/.test(s);
}

export interface VerificationHit {
  needleFrom: string;
  foundAt: string;
}

function findSpan(spans: Span[], part: "head" | "tail", offset: number): Span | undefined {
  // Spans are in output order per part; linear scan is fine (called on a hit only).
  for (const s of spans) if (s.part === part && offset >= s.start && offset < s.end) return s;
  return undefined;
}

/** Searches the output for every needle; returns the first hit or undefined. */
export function verifyOutput(enc: EncodedFile, needles: Needle[]): VerificationHit | undefined {
  if (!needles.length) return undefined;
  for (const seg of searchableParts(enc)) {
    if (!seg.buf.length) continue;
    const hay = asciiLower(seg.buf);
    for (const n of needles) {
      const idx = hay.indexOf(Buffer.from(n.text, "latin1"));
      if (idx >= 0) {
        const span = findSpan(enc.spans, seg.part, seg.base + idx);
        return { needleFrom: n.from, foundAt: span ? spanPath(span) : `byte ${seg.base + idx} (outside element values)` };
      }
    }
  }
  return undefined;
}

export { formatTag };
