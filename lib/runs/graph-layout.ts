// Laying out a run's DAG for drawing, framework-free: nodes and links (port paths) in, positions
// from elkjs's layered algorithm out. Used by the run pages of Atrium's own and of reported runs.
import ELK, { type ElkNode } from "elkjs/lib/elk.bundled.js";

export interface LayoutNodeIn {
  id: string;
  label: string;
  /** Nodes inside a group (a fastr step or macro) are drawn inside it. */
  parent?: string | null;
}
export interface LayoutEdgeIn {
  from: string;
  to: string;
}
export interface PlacedNode {
  id: string;
  label: string;
  x: number;
  y: number;
  width: number;
  height: number;
}
export interface PlacedEdge {
  id: string;
  points: { x: number; y: number }[];
}
export interface GraphLayout {
  width: number;
  height: number;
  nodes: PlacedNode[];
  edges: PlacedEdge[];
}

const NODE_HEIGHT = 56;
const nodeWidth = (label: string) => Math.max(120, Math.min(260, 24 + label.length * 8));

/** The node a port path (`root/<node>/<port>`, `…/<macro>/<port>/output`) belongs to: the longest node id it starts with. */
export function nodeOfPort(nodeIds: readonly string[], port: string): string | null {
  let best: string | null = null;
  for (const id of nodeIds) if (port.startsWith(`${id}/`) && (best === null || id.length > best.length)) best = id;
  return best;
}

export async function layoutGraph(nodes: LayoutNodeIn[], edges: LayoutEdgeIn[]): Promise<GraphLayout> {
  const elk = new ELK();
  const leaf = nodes.filter((n) => !nodes.some((m) => m.parent === n.id));
  const ids = leaf.map((n) => n.id);
  const seen = new Set<string>();
  const elkEdges = edges
    .map((e, i) => ({ id: `e${i}`, sources: [nodeOfPort(ids, e.from) ?? e.from], targets: [nodeOfPort(ids, e.to) ?? e.to] }))
    .filter((e) => ids.includes(e.sources[0]!) && ids.includes(e.targets[0]!) && e.sources[0] !== e.targets[0])
    .filter((e) => {
      const key = `${e.sources[0]}→${e.targets[0]}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
  const graph: ElkNode = {
    id: "graph",
    layoutOptions: { "elk.algorithm": "layered", "elk.direction": "RIGHT", "elk.spacing.nodeNode": "24", "elk.layered.spacing.nodeNodeBetweenLayers": "48", "elk.edgeRouting": "POLYLINE" },
    children: leaf.map((n) => ({ id: n.id, width: nodeWidth(n.label), height: NODE_HEIGHT })),
    edges: elkEdges,
  };
  const result = await elk.layout(graph);
  const byId = new Map(leaf.map((n) => [n.id, n]));
  return {
    width: result.width ?? 0,
    height: result.height ?? 0,
    nodes: (result.children ?? []).map((c) => ({ id: c.id, label: byId.get(c.id)!.label, x: c.x ?? 0, y: c.y ?? 0, width: c.width ?? 0, height: c.height ?? 0 })),
    edges: (result.edges ?? []).map((e) => {
      const s = (e as { sections?: { startPoint: { x: number; y: number }; endPoint: { x: number; y: number }; bendPoints?: { x: number; y: number }[] }[] }).sections?.[0];
      return { id: e.id, points: s ? [s.startPoint, ...(s.bendPoints ?? []), s.endPoint] : [] };
    }),
  };
}
