// Small value helpers shared by the profile engine and the CTP script engine.
import { TEXT_VRS } from "./dictionary";
import type { Element } from "./parse";
import { textBytes, uiBytes } from "./write";

/** Raw value as a latin1 string (1 char per byte), trailing padding removed. */
export function rawString(el: Element): string {
  if (el.items || el.inSource) return "";
  const b = el.newValue ?? el.buf.subarray(el.valueOffset, el.valueOffset + el.length);
  return b.toString("latin1").replace(/[\0 ]+$/, "");
}

/** Encodes a latin1 (byte) string as a value for `vr`, padded to even length. */
export function encodeValue(vr: string, s: string): Buffer {
  return vr === "UI" ? uiBytes(s) : textBytes(s, "latin1");
}

const DAYS_MS = 86_400_000;

/** Adds `days` to a DA value (YYYYMMDD, also YYYY.MM.DD and YYYY-MM-DD); undefined if invalid. */
export function shiftDate(value: string, days: number): string | undefined {
  const m = /^(\d{4})[.-]?(\d{2})[.-]?(\d{2})$/.exec(value.trim());
  if (!m) return undefined;
  const y = Number(m[1]);
  const mo = Number(m[2]);
  const d = Number(m[3]);
  if (mo < 1 || mo > 12 || d < 1 || d > 31) return undefined;
  const t = Date.UTC(y, mo - 1, d);
  if (new Date(t).getUTCDate() !== d) return undefined; // e.g. 20210231
  const dt = new Date(t + days * DAYS_MS);
  const yy = dt.getUTCFullYear();
  if (yy < 1 || yy > 9999) return undefined;
  return `${String(yy).padStart(4, "0")}${String(dt.getUTCMonth() + 1).padStart(2, "0")}${String(dt.getUTCDate()).padStart(2, "0")}`;
}

/** Shifts every value of a DA or DT element (multi-valued with `\`, ranges with `-`); undefined if any value is invalid. */
export function shiftDateValue(vr: string, value: string, days: number): string | undefined {
  const out: string[] = [];
  for (const v of value.split("\\")) {
    const t = v.trim();
    if (!t) {
      out.push("");
      continue;
    }
    if (vr === "DA") {
      const parts = /^\d{8}-\d{8}$|^-\d{8}$|^\d{8}-$/.test(t) ? t.split("-") : [t];
      const shifted = parts.map((p) => (p === "" ? "" : shiftDate(p, days)));
      if (shifted.some((s) => s === undefined)) return undefined;
      out.push(shifted.join("-"));
    } else {
      // DT: YYYYMMDDHHMMSS.FFFFFF&ZZXX; shift the date part, keep the time part.
      if (t.length < 8) return undefined;
      const s = shiftDate(t.slice(0, 8), days);
      if (!s) return undefined;
      out.push(s + t.slice(8));
    }
  }
  return out.join("\\");
}

export function isTextVr(vr: string): boolean {
  return TEXT_VRS.has(vr);
}

/** ASCII-only lower-casing of bytes (non-ASCII bytes are left as they are). */
export function asciiLower(b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(b.length);
  for (let i = 0; i < b.length; i++) {
    const c = b[i];
    out[i] = c >= 0x41 && c <= 0x5a ? c + 32 : c;
  }
  return out;
}

export function asciiLowerString(s: string): string {
  return s.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));
}

/** Removes every case-insensitive occurrence of the needles from a text, replacing with `X`s. */
export function scrubText(text: string, needlesLower: string[]): string {
  if (!needlesLower.length || !text) return text;
  let lower = asciiLowerString(text);
  let out = text;
  for (const n of needlesLower) {
    let i = lower.indexOf(n);
    while (i >= 0) {
      out = out.slice(0, i) + "X".repeat(n.length) + out.slice(i + n.length);
      lower = lower.slice(0, i) + "x".repeat(n.length) + lower.slice(i + n.length);
      i = lower.indexOf(n, i + n.length);
    }
  }
  return out;
}
