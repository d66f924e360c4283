// A pipeline as a graph to draw: sources, constants, tool nodes and sinks, and the links between
// them (a fan-in link says which level it gathers). Layout is the portal's (elkjs).
import type { PipelineDefinition } from "./schema";

export interface GraphNode {
  id: string;
  kind: "source" | "constant" | "node" | "sink";
  label: string;
  detail?: string;
}
export interface GraphEdge {
  id: string;
  from: string;
  to: string;
  label?: string;
}

export function pipelineGraph(def: PipelineDefinition): { nodes: GraphNode[]; edges: GraphEdge[] } {
  const nodes: GraphNode[] = [];
  const edges: GraphEdge[] = [];
  for (const [id, s] of Object.entries(def.sources)) nodes.push({ id: `source:${id}`, kind: "source", label: id, detail: s.from === "scans" ? `scans${s.modality ? ` ${[s.modality].flat().join("/")}` : ""}` : `resource ${s.resource}` });
  for (const [id, c] of Object.entries(def.constants)) nodes.push({ id: `constant:${id}`, kind: "constant", label: id, detail: JSON.stringify(c.value).slice(0, 40) });
  for (const [id, n] of Object.entries(def.nodes)) {
    nodes.push({ id: `node:${id}`, kind: "node", label: id, detail: `${n.tool}${n.version ? `@${n.version}` : ""}` });
    for (const [input, link] of Object.entries(n.in)) {
      if (typeof link === "object" && "value" in link) continue;
      const from = typeof link === "string" ? link : link.from;
      const collapse = typeof link === "string" ? undefined : link.collapse;
      const dot = from.indexOf(".");
      const src = dot < 0 ? (def.sources[from] ? `source:${from}` : `constant:${from}`) : `node:${from.slice(0, dot)}`;
      edges.push({ id: `e:${from}->${id}.${input}`, from: src, to: `node:${id}`, label: `${dot < 0 ? "" : from.slice(dot + 1) + " → "}${input}${collapse ? ` (per ${collapse})` : ""}` });
    }
  }
  for (const [id, s] of Object.entries(def.sinks)) {
    nodes.push({ id: `sink:${id}`, kind: "sink", label: id, detail: s.resource ? `resource ${s.resource}` : `value ${s.value}` });
    edges.push({ id: `e:${s.from}->sink:${id}`, from: `node:${s.from.split(".")[0]}`, to: `sink:${id}`, label: s.from.split(".")[1] });
  }
  return { nodes, edges: edges.filter((e) => nodes.some((n) => n.id === e.from)) };
}
