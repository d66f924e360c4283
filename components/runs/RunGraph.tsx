"use client";
// A run's DAG: each node drawn with a bar of its jobs' states and their counts (elkjs layout).
import { useEffect, useState } from "react";
import { Alert, Loader } from "@mantine/core";
import { layoutGraph, type GraphLayout } from "@/lib/runs/graph-layout";
import { STATE_HEX, STATE_ORDER } from "./states";

export interface RunGraphNode {
  id: string;
  label: string;
  type?: string;
  parent?: string | null;
  jobs: Record<string, number>;
}

export function RunGraph({ nodes, links, selected, onSelect }: { nodes: RunGraphNode[]; links: { from: string; to: string }[]; selected?: string | null; onSelect?: (id: string) => void }) {
  const [layout, setLayout] = useState<GraphLayout | null>(null);
  const [error, setError] = useState<string | null>(null);
  const shape = JSON.stringify([nodes.map((n) => [n.id, n.label, n.parent ?? null]), links]);
  useEffect(() => {
    let live = true;
    layoutGraph(nodes.map((n) => ({ id: n.id, label: n.label, parent: n.parent })), links)
      .then((l) => live && setLayout(l))
      .catch((e: Error) => live && setError(e.message));
    return () => {
      live = false;
    };
    // Re-layout only when the graph's shape changes, not on every count update.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [shape]);
  if (error) return <Alert color="red" title="The graph cannot be drawn">{error}</Alert>;
  if (!layout) return <Loader size="sm" />;
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const pad = 12;
  return (
    <svg role="img" aria-label="Pipeline graph" width={layout.width + 2 * pad} viewBox={`${-pad} ${-pad} ${layout.width + 2 * pad} ${layout.height + 2 * pad}`} style={{ maxWidth: "100%", height: "auto", maxHeight: 520, background: "var(--mantine-color-gray-0)", borderRadius: 8 }}>
      <defs>
        <marker id="run-graph-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
          <path d="M 0 0 L 10 5 L 0 10 z" fill="#868e96" />
        </marker>
      </defs>
      {layout.edges.map((e) => (
        <polyline key={e.id} points={e.points.map((p) => `${p.x},${p.y}`).join(" ")} fill="none" stroke="#868e96" strokeWidth={1.5} markerEnd="url(#run-graph-arrow)" />
      ))}
      {layout.nodes.map((n) => {
        const node = byId.get(n.id)!;
        const total = Object.values(node.jobs).reduce((a, b) => a + b, 0);
        let x = n.x + 8;
        const barWidth = n.width - 16;
        const counts = STATE_ORDER.filter((s) => node.jobs[s]).map((s) => `${node.jobs[s]} ${s}`).join(" · ");
        return (
          <g key={n.id} data-node={n.id} onClick={() => onSelect?.(n.id)} style={{ cursor: onSelect ? "pointer" : "default" }}>
            <title>{`${node.label}${node.type ? ` (${node.type})` : ""}: ${counts || "no jobs yet"}`}</title>
            <rect x={n.x} y={n.y} width={n.width} height={n.height} rx={8} fill="white" stroke={selected === n.id ? "#228be6" : "#adb5bd"} strokeWidth={selected === n.id ? 3 : 1.5} />
            <text x={n.x + 10} y={n.y + 20} fontSize={13} fontWeight={600} fill="#212529">{node.label}</text>
            <text x={n.x + 10} y={n.y + 36} fontSize={11} fill="#495057">{total ? `${total} job${total === 1 ? "" : "s"}${node.jobs.failed ? ` · ${node.jobs.failed} failed` : ""}` : "no jobs yet"}</text>
            {total > 0 &&
              STATE_ORDER.filter((s) => node.jobs[s]).map((s) => {
                const w = (barWidth * node.jobs[s]!) / total;
                const rect = <rect key={s} data-state={s} x={x} y={n.y + n.height - 14} width={w} height={6} fill={STATE_HEX[s] ?? "#343a40"} />;
                x += w;
                return rect;
              })}
          </g>
        );
      })}
    </svg>
  );
}
