"use client";
// A pipeline's DAG laid out by elkjs (layered, left to right): sources, constants, tool nodes and
// sinks as boxes, links as routed edges. With `states`, each tool node shows its jobs by state.
import { useEffect, useState } from "react";
import ELK from "elkjs/lib/elk.bundled.js";
import type { ElkNode } from "elkjs/lib/elk-api";
import type { GraphEdge, GraphNode } from "@/lib/pipelines/graph";

const W = 170;
const H = 52;
const fill: Record<GraphNode["kind"], string> = { source: "#e7f5ff", constant: "#f8f9fa", node: "#fff", sink: "#ebfbee" };
const stroke: Record<GraphNode["kind"], string> = { source: "#339af0", constant: "#adb5bd", node: "#495057", sink: "#40c057" };

interface Laid {
  nodes: (GraphNode & { x: number; y: number })[];
  edges: { id: string; points: { x: number; y: number }[]; label?: string; lx?: number; ly?: number }[];
  width: number;
  height: number;
}

export function PipelineDag({ graph, states }: { graph: { nodes: GraphNode[]; edges: GraphEdge[] }; states?: Record<string, Record<string, number>> }) {
  const [laid, setLaid] = useState<Laid | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    const elk = new ELK();
    const input: ElkNode = {
        id: "root",
        layoutOptions: { "elk.algorithm": "layered", "elk.direction": "RIGHT", "elk.spacing.nodeNode": "24", "elk.layered.spacing.nodeNodeBetweenLayers": "60", "elk.edgeRouting": "ORTHOGONAL" },
        children: graph.nodes.map((n) => ({ id: n.id, width: W, height: H })),
        edges: graph.edges.map((e) => ({ id: e.id, sources: [e.from], targets: [e.to], labels: e.label ? [{ text: e.label, width: Math.min(160, e.label.length * 6.2), height: 14 }] : [] })),
    };
    elk
      .layout(input)
      .then((g) => {
        if (!live) return;
        const byId = new Map(graph.nodes.map((n) => [n.id, n]));
        setLaid({
          nodes: (g.children ?? []).map((c) => ({ ...byId.get(c.id)!, x: c.x ?? 0, y: c.y ?? 0 })),
          edges: (g.edges ?? []).map((e) => {
            const s = e.sections?.[0];
            const points = s ? [s.startPoint, ...(s.bendPoints ?? []), s.endPoint] : [];
            const l = e.labels?.[0];
            return { id: e.id, points, ...(l?.text ? { label: l.text, lx: l.x ?? 0, ly: l.y ?? 0 } : {}) };
          }),
          width: (g.width ?? 0) + 20,
          height: (g.height ?? 0) + 20,
        });
      })
      .catch((e: Error) => live && setError(e.message));
    return () => {
      live = false;
    };
  }, [graph]);
  if (error) return <div role="alert">The graph could not be laid out: {error}</div>;
  if (!laid) return <div style={{ height: 120 }} aria-busy="true" />;
  return (
    <svg role="img" aria-label="Pipeline graph" width={laid.width} height={laid.height} viewBox={`-10 -10 ${laid.width} ${laid.height}`} style={{ maxWidth: "100%", height: "auto", fontFamily: "var(--mantine-font-family)" }}>
      <defs>
        <marker id="dag-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
          <path d="M 0 0 L 10 5 L 0 10 z" fill="#868e96" />
        </marker>
      </defs>
      {laid.edges.map((e) => (
        <g key={e.id}>
          <polyline points={e.points.map((p) => `${p.x},${p.y}`).join(" ")} fill="none" stroke="#868e96" strokeWidth={1.3} markerEnd="url(#dag-arrow)" />
          {e.label && (
            <text x={e.lx} y={(e.ly ?? 0) + 10} fontSize={10} fill="#495057">
              {e.label}
            </text>
          )}
        </g>
      ))}
      {laid.nodes.map((n) => {
        const st = states?.[n.label];
        const summary = n.kind === "node" && st ? Object.entries(st).map(([s, c]) => `${c} ${s.replace(/_/g, " ")}`).join(" · ") : n.detail;
        const bad = st && Object.keys(st).some((s) => ["failed", "timed_out", "out_of_memory"].includes(s));
        return (
          <g key={n.id} transform={`translate(${n.x},${n.y})`} data-node={n.id}>
            <rect width={W} height={H} rx={n.kind === "node" ? 6 : 16} fill={fill[n.kind]} stroke={bad ? "#fa5252" : stroke[n.kind]} strokeWidth={n.kind === "node" ? 1.6 : 1.2} />
            <text x={10} y={20} fontSize={13} fontWeight={600} fill="#212529">
              {n.kind === "node" ? n.label : `${n.kind}: ${n.label}`}
            </text>
            <text x={10} y={38} fontSize={11} fill={bad ? "#c92a2a" : "#495057"}>
              {(summary ?? "").slice(0, 30)}
            </text>
          </g>
        );
      })}
    </svg>
  );
}
