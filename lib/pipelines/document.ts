// Reading a definition file (YAML or JSON — JSON is YAML) with the line of every problem: zod's
// issue paths are mapped back to the YAML nodes they came from. Semantic problems (cycles, type
// mismatches, unknown tools: validate.ts) use the same path → line mapping.
import { isMap, isSeq, LineCounter, parseDocument, type Document } from "yaml";
import { z } from "zod";
import { documentSchema, pipelineSchema, toolSchema, type Definition, type PipelineDefinition, type ToolDefinition } from "./schema";

export type PathPart = string | number;

export interface DefinitionProblem {
  message: string;
  /** Where in the document (e.g. ["nodes", "stats", "in", "image"]). */
  path: PathPart[];
  /** 1-based line (and column) in the text, when known. */
  line?: number;
  column?: number;
  /** The pipeline node and link the problem is about, when it is about one. */
  node?: string;
  link?: string;
}

export class DefinitionError extends Error {
  override readonly name = "DefinitionError";
  constructor(readonly problems: DefinitionProblem[]) {
    super(problems.map(formatProblem).join("\n"));
  }
}

export function formatProblem(p: DefinitionProblem): string {
  const where = p.line ? `line ${p.line}: ` : p.path.length ? `${p.path.join(".")}: ` : "";
  return `${where}${p.message}`;
}

/** A parsed text that can say which line a path is on. */
export interface SourceText {
  data: unknown;
  lineOf(path: PathPart[]): { line: number; column: number } | undefined;
  problems: DefinitionProblem[];
}

/** The maximum size of a definition file. */
export const MAX_DEFINITION_BYTES = 512 * 1024;

export function readSourceText(text: string): SourceText {
  if (Buffer.byteLength(text) > MAX_DEFINITION_BYTES) {
    return { data: null, lineOf: () => undefined, problems: [{ message: `The definition is larger than ${MAX_DEFINITION_BYTES / 1024} KiB; split it.`, path: [] }] };
  }
  const lineCounter = new LineCounter();
  const doc: Document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const problems: DefinitionProblem[] = doc.errors.map((e) => {
    const pos = lineCounter.linePos(e.pos[0]);
    return { message: `Not valid YAML/JSON: ${e.message.split("\n")[0]}`, path: [], line: pos.line, column: pos.col };
  });
  const lineOf = (path: PathPart[]) => {
    // The deepest node on the path that exists (a missing key points at its parent).
    for (let n = path.length; n >= 0; n--) {
      const node = doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
      let range = node && typeof node === "object" ? node.range : undefined;
      if (!range && n > 0) {
        // A key whose value is null has no node: find the key's pair in its parent map.
        const parent = doc.getIn(path.slice(0, n - 1), true);
        if (isMap(parent)) {
          const pair = parent.items.find((p) => (p.key as { value?: unknown })?.value === path[n - 1]);
          range = (pair?.key as { range?: [number, number, number] } | undefined)?.range;
        } else if (isSeq(parent)) range = undefined;
      }
      if (range) {
        const pos = lineCounter.linePos(range[0]);
        return { line: pos.line, column: pos.col };
      }
    }
    return undefined;
  };
  return { data: problems.length ? null : doc.toJS({ maxAliasCount: 100 }), lineOf, problems };
}

export function zodProblems(err: z.ZodError, src: SourceText, base: PathPart[] = []): DefinitionProblem[] {
  return err.issues.map((i) => {
    const path = [...base, ...(i.path as PathPart[])];
    const at = src.lineOf(path);
    const node = path[0] === "nodes" && typeof path[1] === "string" ? path[1] : undefined;
    let message = i.message;
    if (i.code === "invalid_union" || message === "Invalid input") message = `${path.join(".") || "document"}: not a valid value here`;
    else if (path.length) message = `${path.join(".")}: ${message}`;
    return { message, path, ...(at ? { line: at.line, column: at.column } : {}), ...(node ? { node } : {}) };
  });
}

export type ParsedDefinition<T> = { ok: true; value: T; source: SourceText } | { ok: false; problems: DefinitionProblem[]; source: SourceText };

function parseWith<T>(text: string, schema: z.ZodType<T>): ParsedDefinition<T> {
  const source = readSourceText(text);
  if (source.problems.length) return { ok: false, problems: source.problems, source };
  if (source.data === null || typeof source.data !== "object" || Array.isArray(source.data)) {
    return { ok: false, problems: [{ message: 'The definition must be a mapping with "kind: tool" or "kind: pipeline".', path: [], line: 1 }], source };
  }
  const r = schema.safeParse(source.data);
  if (!r.success) return { ok: false, problems: zodProblems(r.error, source), source };
  return { ok: true, value: r.data, source };
}

export const parseToolText = (text: string) => parseWith<ToolDefinition>(text, toolSchema);
export const parsePipelineText = (text: string) => parseWith<PipelineDefinition>(text, pipelineSchema);
export function parseDefinitionText(text: string): ParsedDefinition<Definition> {
  const source = readSourceText(text);
  const kind = (source.data as { kind?: unknown } | null)?.kind;
  if (!source.problems.length && kind !== "tool" && kind !== "pipeline") {
    return { ok: false, problems: [{ message: 'Say what this defines: "kind: tool" or "kind: pipeline" (a fastr tool file is imported with `atrium tool import`).', path: ["kind"], ...(source.lineOf(["kind"]) ?? { line: 1 }) }], source };
  }
  return parseWith<Definition>(text, documentSchema);
}
