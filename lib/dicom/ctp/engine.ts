// Evaluates CTP DicomAnonymizer scripts following CTP's processing algorithm (deid.md §1.4):
// insert step for @always() rules, then the top-level elements (sequence items only through
// @process()), global keep/remove options, first match wins. Hashes are bit-exact with CTP.
import { createHash } from "node:crypto";
import { formatTag, isCurveGroup, isOverlayGroup, isPrivate, isPrivateCreator, lookupTag, TAG, TEXT_VRS } from "../dictionary";
import type { Dataset, Element, ParsedFile } from "../parse";
import { findElement } from "../parse";
import { DEFAULT_SAFE_PRIVATE, isSafePrivate } from "../safe-private";
import { asciiLowerString, encodeValue, shiftDate } from "../values";
import { newTransformState, patientKeyOf, type DeidConfig, type Outcome, type Transform, type TransformState } from "../deid";
import type { CtpRule, CtpScript } from "./script";
import { resolveElementName } from "./script";
import { compilePattern, PatternError } from "../../regex";

// ---- hashing (DigestUtil.getUSMD5) ---------------------------------------------------------

/** MD5 of the UTF-8 string as an unsigned big-endian integer in base 10. */
export function usmd5(s: string): string {
  return BigInt(`0x${createHash("md5").update(s, "utf8").digest("hex")}`).toString(10);
}
export function ctpHash(value: string, maxlen?: number): string {
  const h = usmd5(value);
  return maxlen !== undefined && maxlen >= 0 ? h.slice(0, maxlen) : h;
}
export function ctpHashUid(root: string, uid: string): string {
  let r = root.trim();
  if (r && !r.endsWith(".")) r += ".";
  let h = usmd5(uid);
  if (h.startsWith("0")) h = `9${h}`;
  return (r + h).slice(0, 64);
}
export function ctpHashName(value: string, length = 4, wordCount = -1): string {
  let words = value.split("^");
  if (wordCount >= 0) words = words.slice(0, wordCount);
  const s = words.join("").replace(/[\s,'^.]/g, "").toUpperCase();
  return ctpHash(s, length);
}
export function ctpHashPtid(siteId: string, ptid: string, maxlen?: number): string {
  return ctpHash(`[${siteId.trim()}]${ptid.trim()}`, maxlen);
}
export function ctpIncrementDate(value: string, days: number): string {
  return value
    .split("\\")
    .map((v) => {
      const t = v.trim();
      if (t.length < 8) return "";
      const iso = /^\d{4}-\d{2}-\d{2}/.test(t);
      const d = shiftDate(iso ? t.slice(0, 10) : t.slice(0, 8), days);
      if (!d) return "";
      return d + t.slice(iso ? 10 : 8);
    })
    .join("\\");
}
export function ctpHashDateOffset(hashValue: string): number {
  const h = usmd5(hashValue);
  const last4 = Number(h.slice(-4));
  const off = last4 % 3650;
  return off === 0 ? -1 : -off;
}
export function ctpRoundAge(value: string, size: number): string {
  const m = /^\s*(\d+)\s*([A-Za-z]?)\s*$/.exec(value);
  if (!m || size <= 0) return value;
  const n = Number(m[1]);
  const r = Math.round(n / size) * size;
  let s = `${r}${m[2]}`;
  while (s.length % 2) s = `0${s}`;
  return s;
}
export function ctpInitials(value: string, offset = 0): string {
  const parts = value.split("^").map((p) => p.trim());
  const [last, first, middle] = [parts[0] ?? "", parts[1] ?? "", parts[2] ?? ""];
  const pick = (p: string) => (p ? p[0].toUpperCase() : "");
  let s = pick(first) + pick(middle) + pick(last);
  if (!s) return "X";
  if (offset) s = [...s].map((c) => (/[A-Z]/.test(c) ? String.fromCharCode(((c.charCodeAt(0) - 65 + offset) % 26 + 26) % 26 + 65) : c)).join("");
  return s;
}

// ---- evaluation ----------------------------------------------------------------------------

class QuarantineSignal extends Error {
  constructor(readonly why: string) {
    super(why);
  }
}
class SkipSignal extends Error {}

interface EvalCtx {
  script: CtpScript;
  root: Dataset;
  ds: Dataset;
  el: Element | undefined; // "this"
  thisTag: number;
  inRoot: boolean;
  integers: Map<string, Map<string, number>>;
}

/** Original (input) value of an element as a string (latin1 bytes, padding trimmed). */
function origValue(el: Element | undefined): string {
  if (!el || el.items || el.inSource) return "";
  return el.buf.toString("latin1", el.valueOffset, el.valueOffset + el.length).replace(/[\0 ]+$/, "").replace(/^ +/, "");
}

function findByName(ctx: EvalCtx, name: string, ds: Dataset = ctx.ds): Element | undefined {
  const n = name.trim();
  if (n.toLowerCase() === "this") return ctx.el;
  const r = resolveElementName(n);
  if (r.tag !== undefined) return findElement(ds, r.tag);
  if (r.privateRef) return findPrivate(ds, r.privateRef);
  return undefined;
}

function findPrivate(ds: Dataset, ref: NonNullable<CtpRule["privateRef"]>): Element | undefined {
  for (let b = 0x10; b <= 0xff; b++) {
    const c = findElement(ds, ((ref.group << 16) | b) >>> 0);
    if (c && origValue(c).trim().toUpperCase() === ref.creator) return findElement(ds, ((ref.group << 16) | (b << 8) | ref.element) >>> 0);
  }
  return undefined;
}

function param(ctx: EvalCtx, s: string): string {
  const t = s.trim();
  if (t.startsWith("@") || t.startsWith("$")) return ctx.script.params.get(t.slice(1).toUpperCase()) ?? "";
  return t;
}

function unquote(s: string): string {
  const t = s.trim();
  if (t.length >= 2 && t.startsWith('"') && t.endsWith('"')) return t.slice(1, -1);
  return t;
}

export interface Call {
  name: string;
  args: string[];
  clauses: string[];
}

/** Splits a rule into literal text and calls. */
export function tokenize(script: string): (string | Call)[] {
  const out: (string | Call)[] = [];
  let lit = "";
  let i = 0;
  while (i < script.length) {
    const c = script[i];
    if (c === "\\" && i + 1 < script.length) {
      lit += script[i + 1];
      i += 2;
      continue;
    }
    const m = c === "@" ? /^@([a-zA-Z]+)\(/.exec(script.slice(i)) : null;
    if (!m) {
      lit += c;
      i++;
      continue;
    }
    if (lit) out.push(lit);
    lit = "";
    i += m[0].length;
    // Arguments up to the matching ')', respecting quotes and nesting.
    let depth = 1;
    let q = false;
    let a = "";
    const args: string[] = [];
    while (i < script.length && depth > 0) {
      const ch = script[i];
      if (ch === "\\" && i + 1 < script.length) {
        a += ch + script[i + 1];
        i += 2;
        continue;
      }
      if (ch === '"') q = !q;
      if (!q) {
        if (ch === "(") depth++;
        else if (ch === ")") {
          depth--;
          if (depth === 0) {
            i++;
            break;
          }
        } else if (ch === "," && depth === 1) {
          args.push(a);
          a = "";
          i++;
          continue;
        }
      }
      a += ch;
      i++;
    }
    if (a.trim() || args.length) args.push(a);
    const name = m[1];
    const clauses: string[] = [];
    const nClauses = name === "if" || name === "select" ? 2 : name === "append" ? 1 : 0;
    for (let k = 0; k < nClauses; k++) {
      while (i < script.length && /\s/.test(script[i])) i++;
      if (script[i] !== "{") break;
      let d = 1;
      let j = i + 1;
      while (j < script.length && d > 0) {
        if (script[j] === "\\") j++;
        else if (script[j] === "{") d++;
        else if (script[j] === "}") d--;
        j++;
      }
      clauses.push(script.slice(i + 1, j - 1));
      i = j;
    }
    out.push({ name, args: args.map((x) => x.trim()), clauses });
  }
  if (lit) out.push(lit);
  return out;
}

const KEEP = "\u0000keep";
const REMOVE = "\u0000remove";
const EMPTY = "\u0000empty";
const PROCESS = "\u0000process";

/** Evaluates a rule to its output text (with control markers). */
function evaluate(script: string, ctx: EvalCtx): string {
  let out = "";
  for (const t of tokenize(script)) {
    if (typeof t === "string") out += t;
    else out += call(t, ctx);
  }
  return out;
}

function num(s: string | undefined, dflt: number): number {
  const n = Number((s ?? "").trim());
  return Number.isFinite(n) && (s ?? "").trim() !== "" ? n : dflt;
}

function call(c: Call, ctx: EvalCtx): string {
  const a = c.args;
  const el = (i: number) => findByName(ctx, unquote(a[i] ?? "this"));
  const val = (i: number) => origValue(el(i));
  switch (c.name.toLowerCase()) {
    case "keep":
      return KEEP;
    case "remove":
      return REMOVE;
    case "empty":
      return EMPTY;
    case "blank":
      return " ".repeat(Math.max(0, Math.min(55, num(a[0], 0))));
    case "always":
      return "";
    case "process":
      return PROCESS;
    case "quarantine":
      throw new QuarantineSignal("script called @quarantine()");
    case "skip":
      throw new SkipSignal();
    case "param":
      return param(ctx, a[0] ?? "");
    case "require": {
      if (ctx.el) return KEEP;
      if (a.length >= 1) {
        const e = el(0);
        if (e) return origValue(e);
      }
      if (a.length >= 2) return unquote(a[1]);
      return "";
    }
    case "contents": {
      const v = val(0);
      if (a.length >= 2) {
        return compilePattern(unquote(a[1])).replaceAll(v, a.length >= 3 ? unquote(a[2]) : "");
      }
      return v;
    }
    case "value": {
      const v = val(0);
      return v || (a.length >= 2 ? unquote(a[1]) : "");
    }
    case "truncate": {
      const v = val(0);
      const n = num(a[1], v.length);
      return n >= 0 ? v.slice(0, n) : v.slice(Math.max(0, v.length + n));
    }
    case "lowercase":
      return val(0).toLowerCase();
    case "uppercase":
      return val(0).toUpperCase();
    case "pathelement": {
      const parts = val(0).split("/");
      let i = num(a[1], 0);
      if (i < 0) i = parts.length + i;
      return parts[i] ?? "";
    }
    case "date": {
      const sep = unquote(a[0] ?? "");
      const d = new Date();
      return [d.getFullYear(), String(d.getMonth() + 1).padStart(2, "0"), String(d.getDate()).padStart(2, "0")].join(sep);
    }
    case "time": {
      const sep = unquote(a[0] ?? "");
      const d = new Date();
      return [d.getHours(), d.getMinutes(), d.getSeconds()].map((x) => String(x).padStart(2, "0")).join(sep);
    }
    case "hash": {
      const e = el(0);
      if (!e) return REMOVE;
      return ctpHash(origValue(e), a.length >= 2 ? num(param(ctx, a[1]), -1) : undefined);
    }
    case "hashname": {
      const e = el(0);
      if (!e) return REMOVE;
      return ctpHashName(origValue(e), num(param(ctx, a[1] ?? "4"), 4), a.length >= 3 ? num(param(ctx, a[2]), -1) : -1);
    }
    case "hashptid": {
      const e = el(1);
      if (!e) return REMOVE;
      return ctpHashPtid(param(ctx, unquote(a[0] ?? "")), origValue(e), a.length >= 3 ? num(param(ctx, a[2]), -1) : undefined);
    }
    case "hashuid": {
      const e = el(1);
      if (!e) return REMOVE;
      let v = origValue(e);
      if (a.length >= 3) {
        const e2 = el(2);
        if (e2) v += origValue(e2);
      }
      return ctpHashUid(param(ctx, a[0] ?? ""), v);
    }
    case "incrementdate": {
      const e = el(0);
      if (!e) return REMOVE;
      const v = origValue(e);
      if (v.length < 8) return EMPTY;
      let days: number;
      if (a.length >= 3) {
        const key = origValue(findByName(ctx, unquote(a[1]), ctx.root));
        const hit = ctx.script.lookup.get(`${unquote(a[2])}/${key}`);
        if (hit === undefined) throw new QuarantineSignal("date offset not found in the lookup table");
        days = num(hit, NaN);
      } else days = num(param(ctx, a[1] ?? "0"), NaN);
      if (!Number.isFinite(days)) throw new QuarantineSignal("date increment is not a number");
      return ctpIncrementDate(v, days);
    }
    case "modifydate": {
      const e = el(0);
      if (!e) return REMOVE;
      return origValue(e)
        .split("\\")
        .map((v) => {
          if (v.length < 8) return v;
          const y = /^\d+$/.test(a[1] ?? "") ? a[1].padStart(4, "0") : v.slice(0, 4);
          const mo = /^\d+$/.test(a[2] ?? "") ? a[2].padStart(2, "0") : v.slice(4, 6);
          const d = /^\d+$/.test(a[3] ?? "") ? a[3].padStart(2, "0") : v.slice(6, 8);
          return y + mo + d + v.slice(8);
        })
        .join("\\");
    }
    case "hashdate": {
      const e = el(0);
      if (!e) return REMOVE;
      return ctpIncrementDate(origValue(e), ctpHashDateOffset(val(1)));
    }
    case "dateinterval": {
      const v = val(0);
      const key = origValue(findByName(ctx, unquote(a[2] ?? ""), ctx.root));
      const base = ctx.script.lookup.get(`${unquote(a[1] ?? "")}/${key}`);
      const bm = base ? /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/.exec(base.trim()) : null;
      const dm = /^(\d{4})(\d{2})(\d{2})/.exec(v);
      if (!bm || !dm) throw new QuarantineSignal("date interval base date not found in the lookup table");
      const days = Math.round((Date.UTC(+dm[1], +dm[2] - 1, +dm[3]) - Date.UTC(+bm[3], +bm[1] - 1, +bm[2])) / 86_400_000);
      if (a.length >= 4) {
        const origin = param(ctx, a[3]);
        return shiftDate(origin, days) ?? "";
      }
      return String(days);
    }
    case "round":
      return ctpRoundAge(val(0), num(a[1], 0));
    case "initials":
      return ctpInitials(val(0), num(a[1], 0));
    case "lookup": {
      const names = unquote(a[0] ?? "this").split("|");
      const values = names.map((n) => origValue(findByName(ctx, n)).replace(/\\/g, ""));
      let key = values.join("|");
      const keyType = unquote(a[1] ?? "");
      const action = unquote(a[2] ?? "").toLowerCase();
      if (action === "uc") key = key.toUpperCase();
      let hit = ctx.script.lookup.get(`${keyType}/${key}`);
      for (let n = 0; hit !== undefined && hit.startsWith("@") && hit.includes("/") && n < 10; n++) {
        hit = ctx.script.lookup.get(hit.slice(1));
      }
      if (hit !== undefined) return hit;
      switch (action) {
        case "keep":
          return KEEP;
        case "remove":
          return REMOVE;
        case "empty":
          return EMPTY;
        case "default":
          return unquote(a[3] ?? "");
        case "ignore":
          if (compilePattern(unquote(a[3] ?? "")).testWhole(key)) return KEEP;
          break;
      }
      throw new QuarantineSignal(`value not found in the lookup table (key type ${keyType})`);
    }
    case "integer": {
      const v = val(0);
      const keyType = unquote(a[1] ?? "");
      let m = ctx.integers.get(keyType);
      if (!m) ctx.integers.set(keyType, (m = new Map()));
      let n = m.get(v);
      if (n === undefined) m.set(v, (n = m.size + 1));
      return String(n).padStart(num(a[2], 0), "0");
    }
    case "if": {
      const e = el(0);
      const v = origValue(e);
      const cond = unquote(a[1] ?? "").toLowerCase();
      const arg = unquote(a[2] ?? "");
      let r: boolean;
      switch (cond) {
        case "isblank":
          r = v.trim() === "";
          break;
        case "exists":
          r = e !== undefined;
          break;
        case "contains":
          r = v.toLowerCase().includes(arg.toLowerCase());
          break;
        case "equals":
          r = v.toLowerCase() === arg.toLowerCase();
          break;
        case "matches":
          r = compilePattern(arg).testWhole(v);
          break;
        case "greaterthan": {
          const x = Number(v.replace(/[^0-9]/g, ""));
          const y = Number(arg.replace(/[^0-9]/g, ""));
          r = x > y;
          break;
        }
        default:
          r = false;
      }
      return evaluate((r ? c.clauses[0] : c.clauses[1]) ?? "", ctx);
    }
    case "select":
      return evaluate((ctx.inRoot ? c.clauses[0] : c.clauses[1]) ?? "", ctx);
    case "append": {
      const cur = origValue(ctx.el);
      const add = evaluate(c.clauses[0] ?? "", ctx);
      return cur ? `${cur}\\${add}` : add;
    }
    case "call":
      throw new QuarantineSignal(`script calls plugin ${unquote(a[0] ?? "")}, which Atrium does not provide`);
    case "encrypt":
    case "decrypt":
      throw new QuarantineSignal(`@${c.name}() is not supported by Atrium`);
    default:
      throw new QuarantineSignal(`unknown script function @${c.name}()`);
  }
}

// ---- the transform -------------------------------------------------------------------------

const CODE_MEANINGS: Record<string, string> = {
  "113100": "Basic Application Confidentiality Profile",
  "113101": "Clean Pixel Data Option",
  "113102": "Clean Recognizable Visual Features Option",
  "113103": "Clean Graphics Option",
  "113104": "Clean Structured Content Option",
  "113105": "Clean Descriptors Option",
  "113106": "Retain Longitudinal Temporal Information Full Dates Option",
  "113107": "Retain Longitudinal Temporal Information Modified Dates Option",
  "113108": "Retain Patient Characteristics Option",
  "113109": "Retain Device Identity Option",
  "113110": "Retain UIDs Option",
  "113111": "Retain Safe Private Option",
  "113112": "Retain Institution Identity Option",
};

function ruleFor(script: CtpScript, ds: Dataset, el: Element): CtpRule | undefined {
  for (const r of script.rules) {
    if (r.privateRef) {
      if ((el.tag >>> 16) !== r.privateRef.group || (el.tag & 0xff) !== r.privateRef.element) continue;
      const block = (el.tag >> 8) & 0xff;
      const creator = findElement(ds, (((el.tag >>> 16) << 16) | block) >>> 0);
      if (creator && origValue(creator).trim().toUpperCase() === r.privateRef.creator) return r;
    } else if (r.tag === el.tag) return r;
  }
  return undefined;
}

function newElement(tag: number, vr: string, value: string): Element {
  return { tag, vr, fileVr: null, buf: Buffer.alloc(0), valueOffset: 0, length: 0, undefinedLength: false, newValue: encodeValue(vr, value) };
}

function insertSorted(ds: Dataset, el: Element): void {
  const i = ds.elements.findIndex((e) => e.tag >= el.tag);
  if (i < 0) ds.elements.push(el);
  else if (ds.elements[i].tag === el.tag) ds.elements[i] = el;
  else ds.elements.splice(i, 0, el);
}

export const ctpTransform: Transform = async (file: ParsedFile, config: DeidConfig): Promise<Outcome | { state: TransformState }> => {
  const script = config.script!;
  const root = file.dataset;
  const st: TransformState = newTransformState();
  const integers = new Map<string, Map<string, number>>();
  const safe = config.safePrivate ?? DEFAULT_SAFE_PRIVATE;
  try {
    processDataset(root, true);
  } catch (e) {
    if (e instanceof QuarantineSignal) return { kind: "quarantined", code: "script_quarantine", reason: `Anonymizer script: ${e.why}` };
    if (e instanceof SkipSignal) return { kind: "skipped", reason: "Anonymizer script called @skip()" };
    if (e instanceof PatternError) return { kind: "quarantined", code: "script_quarantine", reason: `Anonymizer script has a regular expression RE2 cannot run: ${e.reason}` };
    throw e;
  }
  // The output folder name: the Patient ID the script wrote; if the script left the ID as it was
  // (or removed it), the project's pseudonym from the store, so no original ID reaches a path.
  const pidEl = findElement(root, TAG.PatientID);
  const written = pidEl?.newValue ? pidEl.newValue.toString("latin1").replace(/[\0 ]+$/, "").trim() : "";
  const safeName = written.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 64);
  if (safeName && safeName !== origValue(pidEl).replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 64)) st.pseudonym = safeName;
  else {
    const key = patientKeyOf(root) ?? `study:${origValue(findElement(root, TAG.StudyInstanceUID))}`;
    st.pseudonym = (await config.store.subject(config.projectId, key)).pseudonym;
  }
  return { state: st };

  function processDataset(ds: Dataset, inRoot: boolean): void {
    const ctxBase = { script, root, ds, inRoot, integers };
    // 1. Insert step (@always()).
    if (inRoot) {
      for (const r of script.rules) {
        if (r.privateRef || r.tag === TAG.DeidentificationMethodCodeSequence) continue;
        if (findElement(ds, r.tag)) continue;
        if (!r.script.trim().startsWith("@always()")) continue;
        const vr = lookupTag(r.tag)?.vr ?? "SH";
        if (vr === "SQ") {
          if (/@require\(/.test(r.script)) insertSorted(ds, { tag: r.tag, vr, fileVr: null, buf: Buffer.alloc(0), valueOffset: 0, length: 0, undefinedLength: true, items: [] });
          continue;
        }
        const v = evaluate(r.script, { ...ctxBase, el: undefined, thisTag: r.tag });
        if (v.includes(KEEP) || v.includes(REMOVE)) continue;
        const text = v.includes(EMPTY) ? "" : v;
        insertSorted(ds, newElement(r.tag, vr, text));
      }
      const code = script.rules.find((r) => r.tag === TAG.DeidentificationMethodCodeSequence && !r.privateRef);
      if (code) {
        for (const c of code.script.split("/").map((x) => x.trim()).filter(Boolean)) {
          if (c.toLowerCase() === "reset") {
            st.methodCodes = [];
            continue;
          }
          st.methodCodes.push({ code: c, meaning: CODE_MEANINGS[c] ?? "UNKNOWN" });
        }
      }
    }
    // 2. Process step.
    const removed = new Set<Element>();
    const keptPrivateBlocks = new Set<number>();
    for (const el of ds.elements) {
      if (el.newValue && !el.buf.length) continue; // inserted above
      const g = el.tag >>> 16;
      const path = formatTag(el.tag);
      if (el.tag === TAG.DeidentificationMethodCodeSequence) continue; // rebuilt at the end
      const priv = isPrivate(el.tag);
      const creator = priv && !isPrivateCreator(el.tag) ? origValue(findElement(ds, ((g << 16) | ((el.tag >> 8) & 0xff)) >>> 0)) : undefined;
      const safeKeep = script.keepSafePrivate && priv && (isPrivateCreator(el.tag) || isSafePrivate(safe, creator, el.tag));
      const keep =
        script.keepGroups.has(g) ||
        safeKeep ||
        el.tag === TAG.SOPClassUID ||
        el.tag === TAG.SOPInstanceUID ||
        el.tag === TAG.StudyInstanceUID ||
        g === 0x0002 ||
        g === 0x0028 ||
        g === 0x7fe0 ||
        (isOverlayGroup(el.tag) && !script.removeOverlays) ||
        (isCurveGroup(el.tag) && !script.removeCurves);
      const rule = ruleFor(script, ds, el);
      if (script.removePrivateGroups && priv && !rule && !keep) {
        removed.add(el);
        continue;
      }
      if (script.removeUnspecified && !rule && !keep) {
        removed.add(el);
        if (!priv) collect(el, path);
        continue;
      }
      if (script.removeOverlays && isOverlayGroup(el.tag)) {
        removed.add(el);
        continue;
      }
      if (script.removeCurves && isCurveGroup(el.tag)) {
        removed.add(el);
        continue;
      }
      if (!rule) {
        if (priv && !isPrivateCreator(el.tag)) keptPrivateBlocks.add(el.tag >> 8);
        if (!priv) keepValue(el);
        continue;
      }
      const v = evaluate(rule.script, { ...ctxBase, el, thisTag: el.tag });
      if (v.includes(PROCESS) && el.items) {
        for (const item of el.items) processDataset(item, false);
        continue;
      }
      if (v.includes(REMOVE)) {
        removed.add(el);
        if (!priv) collect(el, path);
        continue;
      }
      if (v.includes(KEEP) || v.includes(PROCESS)) {
        if (!priv) keepValue(el);
        continue;
      }
      if (!priv) collect(el, path);
      if (el.items) {
        // A value rule on a sequence: CTP cannot write text into a sequence; empty it.
        el.items = [];
        continue;
      }
      const text = v.includes(EMPTY) ? "" : v;
      if (el.tag === TAG.PixelData) continue;
      try {
        el.newValue = encodeValue(el.vr === "UN" ? "LO" : el.vr, text);
        if (el.fileVr === "UN") el.fileVr = null;
      } catch {
        st.warnings.push(`could not write ${path}`);
      }
    }
    // Private creators without any remaining element in their block.
    for (const el of ds.elements) {
      if (isPrivateCreator(el.tag) && !removed.has(el)) {
        const block = ((el.tag >>> 16) << 8) | (el.tag & 0xff);
        const any = ds.elements.some((e) => !removed.has(e) && isPrivate(e.tag) && !isPrivateCreator(e.tag) && e.tag >> 8 === block);
        if (!any && script.removePrivateGroups) removed.add(el);
      }
    }
    ds.elements = ds.elements.filter((e) => !removed.has(e));
  }

  function collect(el: Element, path: string): void {
    if (el.items || el.inSource) return;
    st.needles.add(origValue(el), el.vr, path);
  }
  function keepValue(el: Element): void {
    if (el.items) {
      // A sequence kept as it is: its standard values are kept too.
      for (const it of el.items) for (const e of it.elements) if (!isPrivate(e.tag)) keepValue(e);
      return;
    }
    if (el.inSource) return;
    if (TEXT_VRS.has(el.vr) || el.vr === "CS" || el.vr === "DA" || el.vr === "UI" || el.vr === "TM" || el.vr === "DT") st.kept.push(asciiLowerString(origValue(el)));
  }
};
