// Reading a template's source text (YAML, or JSON, which YAML reads too) into a TaskTemplate, with
// every error placed at its line and column so that the template editor can show it there.
import { isNode, LineCounter, parseDocument, type Document } from "yaml";
import { TaskTemplate } from "./template";

export interface TemplateError {
  /** 1-based; 0 when the error concerns the whole document. */
  line: number;
  column: number;
  /** Where in the template, e.g. contexts.0.form.2.options. */
  path: string;
  message: string;
}

export type ParsedTemplate = { ok: true; template: TaskTemplate; format: "yaml" | "json" } | { ok: false; errors: TemplateError[] };

export const MAX_TEMPLATE_SOURCE = 200_000;

/** Parses and validates a template; errors carry the line and column of the value at fault. */
export function parseTemplateSource(source: string): ParsedTemplate {
  if (source.length > MAX_TEMPLATE_SOURCE) return { ok: false, errors: [{ line: 0, column: 0, path: "", message: `The template is ${source.length} characters; at most ${MAX_TEMPLATE_SOURCE} are accepted.` }] };
  const format = /^\s*[{[]/.test(source) ? "json" : "yaml";
  const lc = new LineCounter();
  const doc = parseDocument(source, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length) {
    return {
      ok: false,
      errors: doc.errors.map((e) => {
        const p = lc.linePos(e.pos[0]);
        return { line: p.line, column: p.col, path: "", message: e.message.split("\n")[0]! };
      }),
    };
  }
  const value: unknown = doc.toJS({ maxAliasCount: 100 });
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return { ok: false, errors: [{ line: 1, column: 1, path: "", message: "A template is a mapping (an object) with schemaVersion, title, scans and contexts." }] };
  }
  const r = TaskTemplate.safeParse(value);
  if (r.success) return { ok: true, template: r.data, format };
  return {
    ok: false,
    errors: r.error.issues.map((i) => {
      // An unknown key is reported on its mapping: point at the key itself.
      const keys = i.code === "unrecognized_keys" ? (i as { keys: string[] }).keys : [];
      const full = [...(i.path as (string | number)[]), ...keys.slice(0, 1)];
      const path = full.map(String);
      const pos = locate(doc, lc, full);
      return { ...pos, path: path.join("."), message: i.message };
    }),
  };
}

/** The line and column of the deepest node of `path` present in the document. */
function locate(doc: Document, lc: LineCounter, path: (string | number)[]): { line: number; column: number } {
  for (let n = path.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true);
    if (isNode(node) && node.range) {
      const p = lc.linePos(node.range[0]);
      return { line: p.line, column: p.col };
    }
    // A missing key: point at the mapping that lacks it (loop continues with a shorter path).
  }
  return { line: 1, column: 1 };
}

/** The parsed template, or an Error listing the problems (for callers that only need a yes/no). */
export function parseTemplateOrThrow(source: string): TaskTemplate {
  const r = parseTemplateSource(source);
  if (r.ok) return r.template;
  throw new Error(`The template is not valid: ${r.errors.map((e) => `${e.line ? `line ${e.line}: ` : ""}${e.path ? `${e.path}: ` : ""}${e.message}`).join("; ")}`);
}
