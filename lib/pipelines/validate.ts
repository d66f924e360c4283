// Semantic validation of tools and pipelines: each problem names the node and link that are wrong
// (unknown tool, unknown or missing input, type mismatch, cycle, bad sink) and, with a SourceText,
// the line. analyzePipeline also returns what the planner needs: each node's tool and sample level.
import type { DefinitionProblem, PathPart, SourceText } from "./document";
import {
  isFileType,
  levelDepth,
  LEVELS,
  type CommandArg,
  type Datatype,
  type Level,
  type PipelineDefinition,
  type ToolDefinition,
  type ToolInput,
  type Value,
} from "./schema";

export const SPECIAL_PLACEHOLDERS = ["outdir", "workdir", "cores", "sample", "memoryMb"] as const;
const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

export function placeholdersOf(s: string): string[] {
  return [...s.matchAll(PLACEHOLDER)].map((m) => m[1]!);
}

function at(src: SourceText | undefined, path: PathPart[], extra: Partial<DefinitionProblem> & { message: string }): DefinitionProblem {
  const pos = src?.lineOf(path);
  return { path, ...(pos ? { line: pos.line, column: pos.column } : {}), ...extra };
}

/** Does a value fit a type (for defaults, constants and inline values)? */
export function valueFits(value: Value, type: Datatype, list: boolean, values?: string[]): string | null {
  const items = Array.isArray(value) ? value : [value];
  if (Array.isArray(value) && !list) return "a list was given where one value is expected";
  for (const v of items) {
    switch (type) {
      case "number":
        if (typeof v !== "number" || !Number.isFinite(v)) return `${JSON.stringify(v)} is not a number`;
        break;
      case "integer":
        if (typeof v !== "number" || !Number.isInteger(v)) return `${JSON.stringify(v)} is not an integer`;
        break;
      case "boolean":
        if (typeof v !== "boolean") return `${JSON.stringify(v)} is not true or false`;
        break;
      case "enum":
        if (typeof v !== "string" || (values && !values.includes(v))) return `${JSON.stringify(v)} is not one of ${values?.join(", ")}`;
        break;
      case "string":
        if (typeof v !== "string") return `${JSON.stringify(v)} is not a string`;
        break;
      default:
        return `a ${type} cannot be given as a constant value (it comes from a source or a node)`;
    }
  }
  return null;
}

/** Static checks of a tool: ids, the command template's references, output discovery. */
export function validateTool(tool: ToolDefinition, src?: SourceText): DefinitionProblem[] {
  const problems: DefinitionProblem[] = [];
  const inputs = new Map<string, ToolInput>();
  tool.inputs.forEach((i, n) => {
    if (inputs.has(i.id)) problems.push(at(src, ["inputs", n, "id"], { message: `Input "${i.id}" is defined twice.` }));
    inputs.set(i.id, i);
    if (i.default !== undefined) {
      const bad = valueFits(i.default, i.type, i.list, i.values);
      if (bad) problems.push(at(src, ["inputs", n, "default"], { message: `Input "${i.id}": its default ${bad}.` }));
    }
  });
  const outputs = new Set<string>();
  tool.outputs.forEach((o, n) => {
    if (outputs.has(o.id)) problems.push(at(src, ["outputs", n, "id"], { message: `Output "${o.id}" is defined twice.` }));
    if (inputs.has(o.id)) problems.push(at(src, ["outputs", n, "id"], { message: `"${o.id}" is both an input and an output; give them different ids.` }));
    outputs.add(o.id);
    const find = o.find;
    if ("stdout" in find && isFileType(o.type)) problems.push(at(src, ["outputs", n, "find"], { message: `Output "${o.id}" is a ${o.type}: find it by "path" or "glob", not on stdout.` }));
    if (!("stdout" in find) && !isFileType(o.type)) problems.push(at(src, ["outputs", n, "find"], { message: `Output "${o.id}" is a ${o.type} value: find it with "stdout: <key>" (the JSON the tool prints).` }));
    if ("path" in find && o.list) problems.push(at(src, ["outputs", n, "find"], { message: `Output "${o.id}" is a list: find it with a "glob".` }));
    const tpl = "path" in find ? find.path : "glob" in find ? find.glob : null;
    if (tpl) {
      if (tpl.startsWith("/") || tpl.split("/").includes("..")) problems.push(at(src, ["outputs", n, "find"], { message: `Output "${o.id}": its path must stay inside the job's directory (relative, no "..").` }));
      for (const p of placeholdersOf(tpl)) {
        if (!inputs.has(p) && !(SPECIAL_PLACEHOLDERS as readonly string[]).includes(p)) problems.push(at(src, ["outputs", n, "find"], { message: `Output "${o.id}": {${p}} is neither an input nor one of ${SPECIAL_PLACEHOLDERS.map((s) => `{${s}}`).join(", ")}.` }));
      }
    }
  });
  const walk = (args: CommandArg[], path: PathPart[], inOptional: boolean) => {
    args.forEach((a, n) => {
      const p = [...path, n];
      if (typeof a === "string") {
        for (const name of placeholdersOf(a)) {
          if ((SPECIAL_PLACEHOLDERS as readonly string[]).includes(name)) continue;
          const input = inputs.get(name);
          if (!input) problems.push(at(src, p, { message: `The command uses {${name}}, which is not an input of the tool (nor one of ${SPECIAL_PLACEHOLDERS.map((s) => `{${s}}`).join(", ")}).` }));
          else if (!input.required && input.default === undefined && !inOptional) problems.push(at(src, p, { message: `The command uses the optional input {${name}} outside an "optional" part: wrap it in { optional: [...] }.` }));
        }
      } else if ("input" in a) {
        if (!inputs.has(a.input)) problems.push(at(src, p, { message: `The command names input "${a.input}", which the tool does not define.` }));
      } else walk(a.optional, [...p, "optional"], true);
    });
  };
  walk(tool.command, ["command"], false);
  if (typeof tool.command[0] !== "string" || placeholdersOf(tool.command[0]).length) problems.push(at(src, ["command", 0], { message: "The command starts with the program to run (a literal string)." }));
  return problems;
}

/** Versions compared part by part, numerically where both parts are numbers. */
export function compareVersions(a: string, b: string): number {
  return a.localeCompare(b, "en", { numeric: true });
}

export interface ToolCatalog {
  /** The tool with this id and version, or the latest version when none is given. */
  find(id: string, version?: string): ToolDefinition | undefined;
  ids(): string[];
}

export function toolCatalog(tools: ToolDefinition[]): ToolCatalog {
  const byId = new Map<string, ToolDefinition[]>();
  for (const t of tools) byId.set(t.id, [...(byId.get(t.id) ?? []), t]);
  return {
    find(id, version) {
      const list = byId.get(id);
      if (!list) return undefined;
      if (version) return list.find((t) => t.version === version);
      return [...list].sort((a, b) => compareVersions(b.version, a.version))[0];
    },
    ids: () => [...byId.keys()].sort(),
  };
}

export type Port = { type: Datatype; list: boolean; values?: string[] };

export type ResolvedLink =
  | { kind: "source"; source: string; level: Level; port: Port; collapse?: Level }
  | { kind: "constant"; value: Value; port: Port | null }
  | { kind: "node"; node: string; output: string; level: Level; port: Port; collapse?: Level };

export interface AnalyzedNode {
  id: string;
  tool: ToolDefinition;
  level: Level;
  links: Record<string, ResolvedLink>;
  /** Upstream nodes. */
  after: string[];
}

export interface AnalyzedPipeline {
  definition: PipelineDefinition;
  /** Node ids, upstream first. */
  order: string[];
  nodes: Record<string, AnalyzedNode>;
  sourceLevels: Record<string, Level>;
}

/** Can a value of port `from` go into port `to`? null when it can, else why not. */
export function typeMismatch(from: Port, to: Port): string | null {
  const fits =
    from.type === to.type ||
    (from.type === "integer" && to.type === "number") ||
    (from.type === "nifti" && to.type === "file") ||
    (from.type === "dicom-series" && to.type === "directory") ||
    (from.type === "enum" && to.type === "string");
  if (!fits) return `a ${from.type} cannot go into a ${to.type}`;
  if (from.list && !to.list) return `a list of ${from.type} cannot go into one ${to.type}`;
  if (!from.list && to.list) return `one ${from.type} per sample cannot go into a list input without a fan-in: add "collapse: experiment" (or subject, run) to the link`;
  return null;
}

function describe(l: ResolvedLink | string): string {
  if (typeof l === "string") return l;
  return l.kind === "source" ? l.source : l.kind === "node" ? `${l.node}.${l.output}` : "a constant";
}

/**
 * Checks a pipeline against the tools it uses. Returns problems (naming node, link and line) and,
 * when there are none, the analyzed pipeline.
 */
export function analyzePipeline(def: PipelineDefinition, catalog: ToolCatalog, src?: SourceText): { problems: DefinitionProblem[]; analyzed: AnalyzedPipeline | null } {
  const problems: DefinitionProblem[] = [];
  const names = new Map<string, string>();
  for (const [kind, rec] of [["source", def.sources], ["constant", def.constants], ["node", def.nodes], ["sink", def.sinks]] as const) {
    for (const id of Object.keys(rec)) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(id)) problems.push(at(src, [`${kind}s`, id], { message: `"${id}" is not a valid ${kind} id (a letter or '_' then letters, digits or '_').` }));
      if (kind !== "sink" && names.has(id)) problems.push(at(src, [`${kind}s`, id], { message: `"${id}" is both a ${names.get(id)} and a ${kind}; ids must be unique.` }));
      if (kind !== "sink") names.set(id, kind);
    }
  }
  const sourceLevels: Record<string, Level> = {};
  for (const [id, s] of Object.entries(def.sources)) {
    sourceLevels[id] = s.from === "scans" ? "scan" : s.on;
    if (s.from === "scans" && s.seriesDescription) {
      try {
        new RegExp(s.seriesDescription, "i");
      } catch {
        problems.push(at(src, ["sources", id, "seriesDescription"], { message: `Source "${id}": seriesDescription is not a valid regular expression.` }));
      }
    }
    if (s.from === "scans" && s.min !== undefined && s.max !== undefined && s.min > s.max) problems.push(at(src, ["sources", id], { message: `Source "${id}": min is larger than max.` }));
  }
  for (const [id, c] of Object.entries(def.constants)) {
    const bad = valueFits(c.value, c.type, c.list);
    if (bad) problems.push(at(src, ["constants", id, "value"], { message: `Constant "${id}": ${bad}.` }));
  }

  const analyzedNodes: Record<string, AnalyzedNode> = {};
  const outputPort = (nodeId: string, output: string): Port | undefined => {
    const n = def.nodes[nodeId];
    const tool = n && catalog.find(n.tool, n.version);
    const o = tool?.outputs.find((x) => x.id === output);
    return o ? { type: o.type, list: o.list } : undefined;
  };

  // Tools and links, per node.
  for (const [nodeId, node] of Object.entries(def.nodes)) {
    const tool = catalog.find(node.tool, node.version);
    if (!tool) {
      const known = catalog.ids();
      const other = catalog.find(node.tool);
      problems.push(
        at(src, ["nodes", nodeId, "tool"], {
          node: nodeId,
          message: other
            ? `Node "${nodeId}": tool ${node.tool} has no version ${node.version} (latest: ${other.version}).`
            : `Node "${nodeId}": unknown tool "${node.tool}". ${known.length ? `Known tools: ${known.join(", ")}.` : "No tools are registered yet."} Register it first ("Register a tool or pipeline…" on the Pipelines tab; atrium tool import converts a fastr tool).`,
        }),
      );
      continue;
    }
    const links: Record<string, ResolvedLink> = {};
    const after = new Set<string>();
    for (const [inputId, link] of Object.entries(node.in)) {
      const path = ["nodes", nodeId, "in", inputId];
      const input = tool.inputs.find((i) => i.id === inputId);
      if (!input) {
        problems.push(at(src, path, { node: nodeId, link: inputId, message: `Node "${nodeId}": tool ${tool.id} has no input "${inputId}" (its inputs: ${tool.inputs.map((i) => i.id).join(", ") || "none"}).` }));
        continue;
      }
      const to: Port = { type: input.type, list: input.list, ...(input.values ? { values: input.values } : {}) };
      if (typeof link === "object" && "value" in link) {
        const bad = valueFits(link.value, input.type, input.list, input.values);
        if (bad) problems.push(at(src, path, { node: nodeId, link: inputId, message: `Node "${nodeId}", input "${inputId}": ${bad}.` }));
        links[inputId] = { kind: "constant", value: link.value, port: null };
        continue;
      }
      const from = typeof link === "string" ? link : link.from;
      const collapse = typeof link === "string" ? undefined : link.collapse;
      const linkName = `${from} → ${nodeId}.${inputId}`;
      const fail = (message: string) => problems.push(at(src, path, { node: nodeId, link: linkName, message: `Node "${nodeId}", link ${linkName}: ${message}` }));
      const dot = from.indexOf(".");
      let resolved: ResolvedLink;
      if (dot < 0) {
        if (def.sources[from]) {
          const s = def.sources[from]!;
          resolved = { kind: "source", source: from, level: sourceLevels[from]!, port: { type: s.type, list: false } };
        } else if (def.constants[from]) {
          const c = def.constants[from]!;
          const bad = valueFits(c.value, input.type, input.list || c.list, input.values);
          if (c.list && !input.list) fail(`constant "${from}" is a list but the input takes one value.`);
          else if (bad && c.type !== input.type) fail(`a ${c.type} constant cannot go into a ${input.type} input.`);
          else if (bad) fail(bad);
          links[inputId] = { kind: "constant", value: c.value, port: { type: c.type, list: c.list } };
          continue;
        } else {
          fail(`"${from}" is not a source, a constant or node.output (sources: ${Object.keys(def.sources).join(", ") || "none"}; constants: ${Object.keys(def.constants).join(", ") || "none"}).`);
          continue;
        }
      } else {
        const up = from.slice(0, dot);
        const out = from.slice(dot + 1);
        if (!def.nodes[up]) {
          fail(`there is no node "${up}".`);
          continue;
        }
        const port = outputPort(up, out);
        if (!port) {
          const upTool = catalog.find(def.nodes[up]!.tool, def.nodes[up]!.version);
          if (upTool) fail(`node "${up}" (tool ${upTool.id}) has no output "${out}" (its outputs: ${upTool.outputs.map((o) => o.id).join(", ") || "none"}).`);
          continue;
        }
        after.add(up);
        resolved = { kind: "node", node: up, output: out, level: "run", port, ...(collapse ? { collapse } : {}) };
      }
      if (collapse) {
        if (resolved.port.list) {
          fail(`"collapse" gathers single values into a list, but ${from} is already a list.`);
          continue;
        }
        const bad = typeMismatch({ ...resolved.port, list: true }, to);
        if (bad) fail(`${bad}.`);
      } else {
        const bad = typeMismatch(resolved.port, to);
        if (bad) fail(`${bad}.`);
      }
      links[inputId] = collapse ? { ...resolved, collapse } : resolved;
    }
    for (const input of tool.inputs) {
      if (input.required && input.default === undefined && !(input.id in node.in)) {
        problems.push(at(src, ["nodes", nodeId, "in"], { node: nodeId, link: input.id, message: `Node "${nodeId}": required input "${input.id}" (${input.type}${input.list ? " list" : ""}) of tool ${tool.id} is not linked.` }));
      }
    }
    analyzedNodes[nodeId] = { id: nodeId, tool, level: "run", links, after: [...after] };
  }

  // Cycles (and the order, upstream first).
  const order: string[] = [];
  const state = new Map<string, "visiting" | "done">();
  const stack: string[] = [];
  let cycleReported = false;
  const visit = (id: string) => {
    if (state.get(id) === "done" || cycleReported) return;
    if (state.get(id) === "visiting") {
      const cycle = [...stack.slice(stack.indexOf(id)), id];
      cycleReported = true;
      problems.push(at(src, ["nodes", id], { node: id, link: `${cycle[cycle.length - 2]} → ${id}`, message: `The pipeline has a cycle: ${cycle.join(" → ")}. A pipeline is a DAG; remove one of these links.` }));
      return;
    }
    state.set(id, "visiting");
    stack.push(id);
    for (const up of analyzedNodes[id]?.after ?? []) visit(up);
    stack.pop();
    state.set(id, "done");
    order.push(id);
  };
  for (const id of Object.keys(def.nodes)) visit(id);

  // Sample levels, upstream first.
  if (!cycleReported) {
    for (const id of order) {
      const n = analyzedNodes[id];
      if (!n) continue;
      let depth = 0;
      for (const [inputId, l] of Object.entries(n.links)) {
        if (l.kind === "constant") continue;
        const upLevel = l.kind === "node" ? analyzedNodes[l.node]?.level ?? "run" : l.level;
        if (l.kind === "node") l.level = upLevel;
        const collapse = l.collapse;
        if (collapse && levelDepth(collapse) >= levelDepth(upLevel)) {
          problems.push(at(src, ["nodes", id, "in", inputId], { node: id, link: `${describe(l)} → ${id}.${inputId}`, message: `Node "${id}": "collapse: ${collapse}" must be coarser than the ${upLevel} level of ${describe(l)} (one of ${LEVELS.slice(0, levelDepth(upLevel)).join(", ")}).` }));
          continue;
        }
        depth = Math.max(depth, levelDepth(collapse ?? upLevel));
      }
      n.level = LEVELS[depth]!;
    }
  }

  for (const [sinkId, sink] of Object.entries(def.sinks)) {
    const path = ["sinks", sinkId];
    const dot = sink.from.indexOf(".");
    const nodeId = dot < 0 ? sink.from : sink.from.slice(0, dot);
    const out = sink.from.slice(dot + 1);
    const node = analyzedNodes[nodeId];
    if (dot < 0 || !def.nodes[nodeId]) {
      problems.push(at(src, [...path, "from"], { link: `${sink.from} → ${sinkId}`, message: `Sink "${sinkId}": "from" must be node.output ("${sink.from}" is not).` }));
      continue;
    }
    if (!node) continue;
    const o = node.tool.outputs.find((x) => x.id === out);
    if (!o) {
      problems.push(at(src, [...path, "from"], { node: nodeId, link: `${sink.from} → ${sinkId}`, message: `Sink "${sinkId}": node "${nodeId}" (tool ${node.tool.id}) has no output "${out}".` }));
      continue;
    }
    if (sink.resource && !isFileType(o.type)) problems.push(at(src, path, { node: nodeId, link: `${sink.from} → ${sinkId}`, message: `Sink "${sinkId}": ${sink.from} is a ${o.type} value; store it with "value:", not "resource:".` }));
    if (sink.value && isFileType(o.type)) problems.push(at(src, path, { node: nodeId, link: `${sink.from} → ${sinkId}`, message: `Sink "${sinkId}": ${sink.from} is a ${o.type}; store files with "resource:", not "value:".` }));
    if (sink.on && sink.on !== node.level) problems.push(at(src, [...path, "on"], { node: nodeId, link: `${sink.from} → ${sinkId}`, message: `Sink "${sinkId}": node "${nodeId}" runs once per ${node.level}, so its results go on the ${node.level} (not "${sink.on}").` }));
    if (sink.resource && node.level === "run") problems.push(at(src, path, { node: nodeId, link: `${sink.from} → ${sinkId}`, message: `Sink "${sinkId}": node "${nodeId}" runs once per run; a resource needs a subject, experiment or scan to belong to.` }));
  }

  if (!Object.keys(def.nodes).length) problems.push(at(src, ["nodes"], { message: "The pipeline has no nodes." }));
  problems.sort((a, b) => (a.line ?? 1e9) - (b.line ?? 1e9));
  return { problems, analyzed: problems.length ? null : { definition: def, order, nodes: analyzedNodes, sourceLevels } };
}
