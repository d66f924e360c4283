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

/** A script that cannot be used: the 1-based line and the reason (never a value of a dataset). */
export class CtpScriptError extends Error {
  constructor(
    readonly line: number,
    readonly reason: string,
  ) {
    super(`line ${line}: ${reason}`);
    this.name = "CtpScriptError";
  }
}

/** The functions of the CTP script language that Atrium evaluates (lib/dicom/ctp/engine.ts). */
export const CTP_FUNCTIONS = new Set([
  "keep", "remove", "empty", "blank", "always", "process", "quarantine", "skip", "param", "require", "contents", "value",
  "truncate", "lowercase", "uppercase", "pathelement", "date", "time", "hash", "hashname", "hashptid", "hashuid",
  "incrementdate", "modifydate", "hashdate", "dateinterval", "round", "initials", "lookup", "integer", "if", "select", "append",
]);
/** CTP functions Atrium refuses: they need plug-ins or keys Atrium does not have. */
const UNSUPPORTED = new Set(["call", "encrypt", "decrypt"]);

/**
 * Checks a rule's text: every `@name(` is a known function with its `)` and the `{…}` clauses
 * @if/@select/@append need; a bare `@word` is refused (a typo of a call, or an unescaped @).
 * Returns the reason, or undefined when the rule is well formed.
 */
export function checkRuleText(text: string): string | undefined {
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === "\\") {
      i += 2;
      continue;
    }
    if (c !== "@") {
      i++;
      continue;
    }
    const m = /^@([A-Za-z]+)(\()?/.exec(text.slice(i));
    if (!m) {
      i++;
      continue;
    }
    const name = m[1];
    const low = name.toLowerCase();
    if (!m[2]) return `"@${name}" is not a function call: write @${name}() or escape a literal @ as \\@`;
    if (UNSUPPORTED.has(low)) return `@${name}() is not supported by Atrium (it needs a CTP plug-in or key)`;
    if (!CTP_FUNCTIONS.has(low)) return `unknown function @${name}() (known: ${[...CTP_FUNCTIONS].map((f) => `@${f}`).join(", ")})`;
    i += m[0].length;
    let depth = 1;
    let quoted = false;
    while (i < text.length && depth > 0) {
      const ch = text[i];
      if (ch === "\\") {
        i += 2;
        continue;
      }
      if (ch === '"') quoted = !quoted;
      else if (!quoted && ch === "(") depth++;
      else if (!quoted && ch === ")") depth--;
      i++;
    }
    if (depth > 0) return `@${name}( has no closing ")"`;
    const clauses = low === "if" || low === "select" ? 2 : low === "append" ? 1 : 0;
    for (let k = 0; k < clauses; k++) {
      while (i < text.length && /\s/.test(text[i])) i++;
      if (text[i] !== "{") return `@${name}() needs ${clauses === 2 ? "two {…} clauses" : "a {…} clause"} after it`;
      let d = 1;
      let j = i + 1;
      while (j < text.length && d > 0) {
        if (text[j] === "\\") j++;
        else if (text[j] === "{") d++;
        else if (text[j] === "}") d--;
        j++;
      }
      if (d > 0) return `a {…} clause of @${name}() has no closing "}"`;
      const inner = checkRuleText(text.slice(i + 1, j - 1));
      if (inner) return inner;
      i = j;
    }
  }
  return undefined;
}

function lineAt(text: string, offset: number): number {
  let n = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) n++;
  return n;
}

/** Blanks out comments and the XML prolog, keeping offsets (and so line numbers) intact. */
function blankOut(text: string, re: RegExp): string {
  return text.replace(re, (m) => m.replace(/[^\n]/g, " "));
}

function parseXml(text: string, s: CtpScript): void {
  let body = blankOut(text, /<!--[\s\S]*?-->/g);
  body = blankOut(body, /<\?xml[\s\S]*?\?>/);
  body = blankOut(body, /<!DOCTYPE[^>]*>/i);
  let i = 0;
  const ws = () => {
    while (i < body.length && /\s/.test(body[i])) i++;
  };
  const fail = (at: number, reason: string): never => {
    throw new CtpScriptError(lineAt(text, at), reason);
  };
  ws();
  const root = /^<script(\s[^<>]*)?>/.exec(body.slice(i));
  if (!root) fail(i, "an XML script must start with <script>");
  i += root![0].length;
  for (;;) {
    ws();
    if (i >= body.length) fail(i, "the script has no </script> end tag");
    if (body.startsWith("</script", i)) {
      const end = /^<\/script\s*>/.exec(body.slice(i));
      if (!end) fail(i, "malformed </script> end tag");
      i += end![0].length;
      ws();
      if (i < body.length) fail(i, "text after </script>");
      return;
    }
    if (body[i] !== "<") fail(i, `text outside an element ("${body.slice(i, i + 20).split("\n")[0]}…"): every rule is an <e>, <p>, <k> or <r> element`);
    const open = /^<([A-Za-z][\w-]*)((?:\s+[A-Za-z_][\w.-]*\s*=\s*(?:"[^"<]*"|'[^'<]*'))*)\s*(\/?)>/.exec(body.slice(i));
    if (!open) fail(i, "malformed start tag (an attribute without quotes, or a missing >)");
    const [whole, kindRaw, attrText, selfClosing] = open!;
    const kind = kindRaw.toLowerCase();
    if (!["p", "e", "k", "r"].includes(kind)) fail(i, `unknown element <${kindRaw}>: a script has <p>, <e>, <k> and <r> elements`);
    const at = i;
    i += whole.length;
    let content = "";
    if (!selfClosing) {
      const close = body.indexOf("<", i);
      if (close < 0) fail(at, `<${kindRaw}> has no end tag </${kindRaw}>`);
      content = body.slice(i, close);
      const end = new RegExp(`^</${kindRaw}\\s*>`).exec(body.slice(close));
      if (!end) fail(close, `<${kindRaw}> is not closed by </${kindRaw}> (a broken end tag, or "<" in a value: write &lt;)`);
      i = close + end![0].length;
    }
    const a = attrs(attrText);
    const value = decodeEntities(content);
    const enabled = (a.en ?? "T").toUpperCase() !== "F";
    try {
      if (kind === "p") {
        if (!a.t) fail(at, "a <p> parameter needs a t attribute (its name)");
        s.params.set(a.t.toUpperCase(), value.trim());
        continue;
      }
      if (kind === "e") {
        if (!a.t && !a.n) fail(at, "an <e> rule needs a t attribute (the element, e.g. t=\"00100010\")");
        const why = checkRuleText(value.trim());
        if (why) fail(at, why);
        if (enabled) addRule(s, a.t ?? "", a.n ?? "", value.trim());
        continue;
      }
      if (!a.t) fail(at, `a <${kind}> option needs a t attribute`);
      if (enabled) setGlobal(s, kind as "k" | "r", a.t);
    } catch (e) {
      if (e instanceof CtpScriptError) throw e;
      fail(at, (e as Error).message);
    }
  }
}

function parseProperties(text: string, s: CtpScript): void {
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, idx) => {
    const line = raw.trim();
    if (!line || line.startsWith("#") || line.startsWith("!")) return;
    const eq = line.indexOf("=");
    const key = eq >= 0 ? line.slice(0, eq).trim() : line;
    const value = eq >= 0 ? line.slice(eq + 1).trim() : "";
    try {
      if (key.startsWith("param.")) s.params.set(key.slice(6).toUpperCase(), value);
      else if (key.startsWith("set.")) {
        const m = /^set\.\[([0-9a-fA-F]{4}),([0-9a-fA-F]{4})\](.*)$/.exec(key);
        if (!m) throw new Error('malformed set. line: write set.[gggg,eeee]Name=rule');
        const why = checkRuleText(value);
        if (why) throw new Error(why);
        addRule(s, `${m[1]}${m[2]}`, m[3], value);
      } else if (key.startsWith("keep.")) setGlobal(s, "k", key.slice(5));
      else if (key.startsWith("remove.")) setGlobal(s, "r", key.slice(7));
      else throw new Error(`not a script line: a properties script has only param., set., keep. and remove. lines (and # comments)`);
    } catch (e) {
      throw new CtpScriptError(idx + 1, (e as Error).message);
    }
  });
}

/**
 * Parses a CTP anonymizer script (XML or legacy properties). A script that cannot be read
 * exactly, uses a function Atrium does not evaluate, or has no rule is refused: throws a
 * CtpScriptError with the line and the reason. (A lenient reading would de-identify nothing.)
 */
export function parseCtpScript(text: string): CtpScript {
  const s = emptyScript();
  const src = text.replace(/^\uFEFF/, "");
  if (src.trimStart().startsWith("<")) parseXml(src, s);
  else parseProperties(src, s);
  if (!s.rules.length && !s.removeUnspecified && !s.removePrivateGroups && !s.removeCurves && !s.removeOverlays) {
    throw new CtpScriptError(lineAt(src, src.length), "the script has no rule: it would de-identify nothing. Add <e> rules (or set. lines)");
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
