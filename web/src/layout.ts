/**
 * Where a batch's dependency graph puts its nodes and edges: dagre's layered layout, left to right. Only the
 * graph's shape (ids and dependencies) decides it, so a change of statuses reuses the last layout.
 */
import { graphlib, layout } from '@dagrejs/dagre';

export interface GraphTask {
  id: string;
  dependsOn: readonly string[];
  status?: string;
}

export const NODE_WIDTH = 172;
export const NODE_HEIGHT = 46;
const MARGIN = 16;

interface Laid {
  width: number;
  height: number;
  nodes: { id: string; x: number; y: number; status: string }[];
  edges: { from: string; to: string; points: { x: number; y: number }[] }[];
}

/** Positions from dagre: node centres and edge polylines. Unknown dependencies are left out. */
function layOut(tasks: readonly GraphTask[]): Laid {
  const g = new graphlib.Graph();
  g.setGraph({ rankdir: 'LR', nodesep: 18, ranksep: 56, marginx: MARGIN, marginy: MARGIN });
  g.setDefaultEdgeLabel(() => ({}));
  const ids = new Set(tasks.map((t) => t.id));
  for (const task of tasks) g.setNode(task.id, { width: NODE_WIDTH, height: NODE_HEIGHT });
  for (const task of tasks)
    for (const dep of task.dependsOn) if (ids.has(dep) && dep !== task.id) g.setEdge(dep, task.id);
  layout(g);
  const graph = g.graph();
  return {
    width: Math.ceil(graph.width ?? 0),
    height: Math.ceil(graph.height ?? 0),
    nodes: tasks.map((t) => {
      const n = g.node(t.id);
      return { id: t.id, x: n.x, y: n.y, status: t.status ?? 'PENDING' };
    }),
    edges: g.edges().map((e) => ({ from: e.v, to: e.w, points: g.edge(e).points ?? [] })),
  };
}

/**
 * The last layout made, by the shape it was made for: a big batch's page is drawn again on every progress
 * message, and laying out a few hundred nodes again each time (a status changes nothing of the shape) kept
 * its page busy for seconds.
 */
let last: { shape: string; laid: Laid } | undefined;

/** The layout of these tasks, with their statuses: made anew only when the graph's shape changed. */
export function layoutGraph(tasks: readonly GraphTask[]): Laid {
  const shape = JSON.stringify(tasks.map((t) => [t.id, t.dependsOn]));
  if (last?.shape !== shape) last = { shape, laid: layOut(tasks) };
  const { laid } = last;
  return { ...laid, nodes: laid.nodes.map((n, i) => ({ ...n, status: tasks[i]?.status ?? 'PENDING' })) };
}
