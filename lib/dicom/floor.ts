// The site de-identification floor (issue #17 §0/§1): what every released output must satisfy,
// whatever the project's profile or CTP script says, checked on the OUTPUT bytes independently of
// what the engine meant to do.
//
// The floor is the PS3.15 Basic profile (Table E.1-1), loosened only by the retain options the
// site allows every project and by exceptions a site admin approved for one project's setting.
// Before the transform runs, every identifying element of the input is collected, at any depth:
//   * every element whose tag Table E.1-1 lists with an action other than K (after the floor's
//     options), and every text element inside a sequence the table removes (X, Z, D);
//   * every private element (creators excepted), unless safe-private is allowed and it is safe,
//     or the approved exceptions keep private elements;
//   * text in overlay (60xx) and curve (50xx) groups.
// Their values (and, for names, their components) are needles, with the rules of ./verify.ts
// (length minimums). A needle contained in a value the floor keeps in the same input (e.g. a
// description equal to a kept Body Part) or in the engine's fixed dummy words is not evidence.
// After encoding, all non-pixel bytes of the output are searched; a hit quarantines the instance
// with the output element path (a path, never the value). Inside an output UID value only an
// input UID itself counts: a date's digits inside a new hashed UID are a coincidence.
import { DEFAULT_SAFE_PRIVATE, isSafePrivate } from "./safe-private";
import { compileProfile, OPTION_INFO, type CompiledProfile, type ProfileOption } from "./profile";
import { formatTag, isCurveGroup, isOverlayGroup, isPrivate, isPrivateCreator, lookupTag, STRING_VRS, TEXT_VRS, TAG } from "./dictionary";
import type { Dataset, Element } from "./parse";
import type { CtpScript } from "./ctp/script";
import { NeedleSet, type VerificationHit } from "./verify";
import { asciiLower, asciiLowerString } from "./values";
import { searchableParts, spanPath, type EncodedFile, type Span } from "./write";

import { isRetainOption, RETAIN_OPTIONS, type RetainOption } from "./retain";
export { isRetainOption, RETAIN_OPTIONS, type RetainOption };

/** What the floor lets through for one project: the site's allowed options plus approved exceptions. */
export interface FloorPolicy {
  /** Retain options allowed (site-wide, or approved for the project's setting). */
  options?: ProfileOption[];
  /** Elements approved to be kept as they are (tags; overlay/curve tags as 60xx→6000, 50xx→5000). */
  keepTags?: number[];
  /** Approved: private elements kept. */
  keepPrivate?: boolean;
}

/** What a setting keeps beyond the floor (names and tags, never values): what an admin approves. */
export interface FloorExceptions {
  options: RetainOption[];
  /** "(gggg,eeee)" tags. */
  tags: string[];
  keepPrivate: boolean;
}

export function isEmptyExceptions(e: FloorExceptions): boolean {
  return !e.options.length && !e.tags.length && !e.keepPrivate;
}

/** A line per exception, for people: "Retain UIDs Option", "Patient's Name (0010,0010)", … */
export function describeExceptions(e: FloorExceptions): string[] {
  return [
    ...e.options.map((o) => OPTION_INFO[o].meaning),
    ...e.tags.map((t) => {
      const tag = parseInt(t.slice(1, 5) + t.slice(6, 10), 16) >>> 0;
      const name = lookupTag(tag)?.keyword ?? (t.startsWith("(60") ? "Overlay element" : t.startsWith("(50") ? "Curve element" : "element");
      return `${name} ${t}`;
    }),
    ...(e.keepPrivate ? ["private elements (all of them)"] : []),
  ];
}

/** Normalises repeating groups (overlays 60xx, curves 50xx) to their table form. */
export function floorTag(tag: number): number {
  if (isOverlayGroup(tag)) return ((0x6000 << 16) | (tag & 0xffff)) >>> 0;
  if (isCurveGroup(tag)) return ((0x5000 << 16) | (tag & 0xffff)) >>> 0;
  return tag;
}

const profileCache = new Map<string, CompiledProfile>();
/**
 * The floor as a compiled profile. Clean options count too: PS3.15 defines their C as removing
 * what identifies, so a project may choose them without approval (they keep cleaned content).
 */
export function floorProfile(options: readonly ProfileOption[] = []): CompiledProfile {
  const all = [...new Set(options)].sort();
  // Full dates win over modified dates when both are allowed (full keeps more).
  const opts = all.includes("retainLongitudinalFullDates") ? all.filter((o) => o !== "retainLongitudinalModifiedDates") : all;
  const key = opts.join("+");
  let p = profileCache.get(key);
  if (!p) profileCache.set(key, (p = compileProfile(opts)));
  return p;
}

const DATE_VRS = new Set(["DA", "DT"]);

/**
 * Whether the floor removes (or replaces) an element with this action: X, Z, D, U; C only for
 * dates (a modified date must differ); K and C of text (cleaned text may keep words) do not.
 */
function removes(action: string | undefined, vr: string): boolean {
  if (!action || action === "K") return false;
  if (action === "C") return DATE_VRS.has(vr);
  return true;
}

/** Elements of the floor's Table: top-level tags it removes (for script analysis). */
export function floorTags(policy: FloorPolicy = {}): Map<number, string> {
  const p = floorProfile(policy.options);
  const keep = new Set(policy.keepTags ?? []);
  const out = new Map<number, string>();
  for (const [tag, action] of p.actions) {
    if (keep.has(tag)) continue;
    const vr = lookupTag(tag)?.vr ?? "";
    if (removes(action, vr) || (action === "C" && vr === "SQ")) out.set(tag, action);
  }
  return out;
}

function elementText(el: Element): string | undefined {
  if (el.items || el.inSource || el.fragments) return undefined;
  const vr = el.vr;
  const b = el.buf.subarray(el.valueOffset, el.valueOffset + el.length);
  if (STRING_VRS.has(vr)) return b.toString("latin1").replace(/[\0 ]+$/, "");
  if (vr === "UN" || ((vr === "OB" || vr === "UT") && isPrivate(el.tag))) {
    // An opaque value: searched when it is text (a private string sent as UN).
    if (!b.length || b.length > 4096) return undefined;
    let printable = 0;
    for (const c of b) if ((c >= 0x20 && c < 0x7f) || c === 0 || c === 0x0a || c === 0x0d) printable++;
    return printable / b.length >= 0.9 ? b.toString("latin1").replace(/[\0 ]+$/, "") : undefined;
  }
  return undefined;
}

export interface FloorNeedles {
  needles: NeedleSet;
  /** Lower-cased UID values of the input the floor replaces. */
  uids: Set<string>;
  /**
   * Input values of the dates the floor lets through modified (retain longitudinal modified
   * dates), by element path: a shifted date may by chance equal another original date, which is
   * not a leak when that element's value did change.
   */
  modifiedDates: Map<string, string>;
}

// The engine's fixed dummy values (./deid.ts): a needle contained in one (a time 101000 inside the
// dummy date-time 19000101000000) is a coincidence, not a leak.
const DUMMY_WORDS = ["anonymized", "anonymous", "unknown", "19000101000000", "000y"];

/** Collects the identifying values of the input (call BEFORE the transform changes the dataset). */
export function collectFloorNeedles(ds: Dataset, policy: FloorPolicy = {}): FloorNeedles {
  const profile = floorProfile(policy.options);
  const keepTags = new Set(policy.keepTags ?? []);
  const safePrivate = (policy.options ?? []).includes("retainSafePrivate");
  const needles = new NeedleSet();
  const uids = new Set<string>();
  const modifiedDates = new Map<string, string>();
  const keptTexts: string[] = [...DUMMY_WORDS];

  const walk = (d: Dataset, path: string, inRemoved: boolean) => {
    const creators = new Map<number, string>();
    for (const el of d.elements) {
      if (isPrivate(el.tag) && isPrivateCreator(el.tag)) creators.set(((el.tag >>> 16) << 8) | (el.tag & 0xff), elementText(el) ?? "");
    }
    for (const el of d.elements) {
      const g = el.tag >>> 16;
      const e = el.tag & 0xffff;
      const p = () => path + formatTag(el.tag);
      if (g === 0x0002 || e === 0 || (g & 0xfffe) === 0xfffe) continue;
      if (el.tag === TAG.PixelData || el.tag === TAG.FloatPixelData || el.tag === TAG.DoubleFloatPixelData) continue;
      let identifying: boolean;
      let sqRemoved = inRemoved;
      if (isPrivate(el.tag)) {
        if (isPrivateCreator(el.tag)) continue;
        const creator = creators.get((g << 8) | (e >> 8));
        identifying = !policy.keepPrivate && !(safePrivate && isSafePrivate(DEFAULT_SAFE_PRIVATE, creator, el.tag));
        sqRemoved = inRemoved || identifying;
      } else {
        const t = floorTag(el.tag);
        const action = keepTags.has(t)
          ? "K"
          : isOverlayGroup(el.tag)
            ? (e === 0x4000 ? profile.overlayComments : profile.overlayData) === "X" || profile.overlayData === "X" ? "X" : "C"
            : isCurveGroup(el.tag)
              ? profile.curves
              : profile.actions.get(el.tag);
        if (el.items) {
          sqRemoved = action === "C" || action === "K" || action === "U" ? false : inRemoved || action === "X" || action === "Z" || action === "D";
          identifying = false;
        } else identifying = removes(action, el.vr) || (inRemoved && !action && TEXT_VRS.has(el.vr));
      }
      if (el.items) {
        const sp = p();
        el.items.forEach((item, i) => walk(item, `${sp}[${i}]/`, sqRemoved));
        continue;
      }
      const text = elementText(el);
      if (text === undefined || !text.trim()) continue;
      if (identifying) {
        needles.add(text, el.vr, p());
        if (DATE_VRS.has(el.vr) && !isPrivate(el.tag) && profile.actions.get(el.tag) === "C" && !keepTags.has(floorTag(el.tag))) modifiedDates.set(p(), text);
        if (el.vr === "UI") for (const u of text.split("\\")) if (u.trim()) uids.add(u.trim().toLowerCase());
      } else if (!isPrivate(el.tag)) keptTexts.push(text);
    }
  };
  walk(ds, "", false);
  needles.dropContainedIn([asciiLowerString(keptTexts.join("\u0001"))]);
  return { needles, uids, modifiedDates };
}

function spanAt(spans: Span[], part: "head" | "tail", offset: number): Span | undefined {
  for (const s of spans) if (s.part === part && offset >= s.start && offset < s.end) return s;
  return undefined;
}

/** The UID-like token ([0-9.] run with a dot) around a match, or undefined. */
function uidAround(hay: Buffer, idx: number, len: number): string | undefined {
  const isUidChar = (c: number) => (c >= 0x30 && c <= 0x39) || c === 0x2e;
  let a = idx;
  let b = idx + len;
  while (a > 0 && isUidChar(hay[a - 1])) a--;
  while (b < hay.length && isUidChar(hay[b])) b++;
  const token = hay.toString("latin1", a, b);
  return token.includes(".") ? token : undefined;
}

/** Searches every non-pixel byte of the output for the input's identifying values. */
export function checkFloor(enc: EncodedFile, f: FloorNeedles): VerificationHit | undefined {
  const list = f.needles.list();
  if (!list.length) return undefined;
  // A hit inside an element's value is reported first (its path); one outside any value (the
  // file meta header repeats the SOP Instance UID) only when there is no other.
  let outside: VerificationHit | undefined;
  for (const seg of searchableParts(enc)) {
    if (!seg.buf.length) continue;
    const hay = asciiLower(seg.buf);
    for (const n of list) {
      const needle = Buffer.from(n.text, "latin1");
      for (let idx = hay.indexOf(needle); idx >= 0; idx = hay.indexOf(needle, idx + 1)) {
        const span = spanAt(enc.spans, seg.part, seg.base + idx);
        if (!n.text.includes(".") && (!span || span.el.vr === "UI" || span.el.fileVr === "UI")) {
          // Digits inside a UID (of an element, or of the file meta header): only an input UID
          // itself counts, not a date's digits inside a new hashed UID.
          const uid = uidAround(hay, idx, needle.length);
          if (uid && !f.uids.has(uid)) continue;
        }
        if (span) {
          const at = spanPath(span);
          const original = f.modifiedDates.get(at);
          // A modified date that changed, and happens to equal another original date: a coincidence.
          if (original !== undefined && at !== n.from) {
            const written = hay.toString("latin1", span.start - seg.base, span.end - seg.base).replace(/[\0 ]+$/, "");
            if (written !== asciiLowerString(original)) continue;
          }
          return { needleFrom: n.from, foundAt: at };
        }
        outside ??= { needleFrom: n.from, foundAt: `byte ${seg.base + idx} (the file meta header or outside element values)` };
      }
    }
  }
  return outside;
}

// ---- what a setting keeps beyond the floor (for approvals and warnings) ------------------------

/** A rule text that may leave the element's original value in place (or copy an original). */
function mayKeep(text: string): boolean {
  return (
    /@(keep|require|process|append)\(/i.test(text) ||
    /@lookup\([^)]*,\s*"?(keep|ignore)"?\s*[,)]/i.test(text) ||
    /@(contents|value|truncate|lowercase|uppercase)\(\s*"?this"?\s*[,)]/i.test(text)
  );
}

// Elements CTP keeps whatever the global options say (deid.md §1.4), unless a rule changes them.
const CTP_ALWAYS_KEPT = new Set<number>([TAG.SOPClassUID, TAG.SOPInstanceUID, TAG.StudyInstanceUID]);

/**
 * What a CTP script keeps that the floor removes: elements with a keeping rule, or without a rule
 * when unspecified elements are kept; private elements unless removed; safe private elements.
 * A static reading (the output check is what holds): it lists what an admin is asked to approve.
 */
export function scriptExceptions(script: CtpScript, policy: FloorPolicy = {}): FloorExceptions {
  const tags: string[] = [];
  for (const tag of floorTags(policy).keys()) {
    const rule = script.rules.find((r) => !r.privateRef && r.tag === tag);
    const kept = rule ? mayKeep(rule.script) : CTP_ALWAYS_KEPT.has(tag) || !script.removeUnspecified || script.keepGroups.has(tag >>> 16);
    if (kept) tags.push(formatTag(tag));
  }
  const allowed = new Set(policy.options ?? []);
  const options: RetainOption[] = [];
  const keepsPrivate = (!script.removePrivateGroups && !script.removeUnspecified) || script.rules.some((r) => (r.privateRef || isPrivate(r.tag)) && mayKeep(r.script));
  if (script.keepSafePrivate && !keepsPrivate && !allowed.has("retainSafePrivate")) options.push("retainSafePrivate");
  return { options, tags: tags.sort(), keepPrivate: keepsPrivate && !policy.keepPrivate };
}

/** The retain options of a profile that the floor does not allow. */
export function profileExceptions(options: readonly ProfileOption[], policy: FloorPolicy = {}): FloorExceptions {
  const allowed = new Set(policy.options ?? []);
  return { options: options.filter(isRetainOption).filter((o) => !allowed.has(o)), tags: [], keepPrivate: false };
}

/** The floor policy of a setting: the site's allowed options plus the approved exceptions. */
export function policyWith(allowed: readonly ProfileOption[], approved?: FloorExceptions, profileOptions: readonly ProfileOption[] = []): FloorPolicy {
  const clean = profileOptions.filter((o) => !isRetainOption(o));
  return {
    options: [...new Set([...allowed, ...clean, ...(approved?.options ?? [])])],
    keepTags: (approved?.tags ?? []).map((t) => parseInt(t.slice(1, 5) + t.slice(6, 10), 16) >>> 0),
    keepPrivate: approved?.keepPrivate ?? false,
  };
}
