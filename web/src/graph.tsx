/**
 * A batch's dependency graph: laid out by dagre (layered, left to right), drawn as SVG, nodes coloured and
 * labelled by status, the critical path (or a cycle) marked. Every node is a keyboard stop that opens its
 * task.
 */
import type { JSX } from 'preact';
import { type GraphTask, layoutGraph, NODE_HEIGHT, NODE_WIDTH } from './layout';

export type { GraphTask };

/** Above this many tasks the graph is not drawn (the task table stays): a layout that size is unreadable. */
export const MAX_GRAPH_NODES = 400;
const LABEL_CHARS = 22;

/** Fill of a node by status; the status is also written in the node, so colour is never the only cue. */
export const STATUS_FILL: Record<string, string> = {
  PENDING: '#eef0f3',
  READY: '#dbeafe',
  RUNNING: '#fde68a',
  AWAITING_APPROVAL: '#e9d5ff',
  SUCCEEDED: '#bbf7d0',
  FAILED: '#fecaca',
  SKIPPED: '#f5f5f4',
  CANCELLED: '#d6d3d1',
};

const arrowMarker = (id: string, fill: string) => (
  <marker id={id} viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto">
    <path d="M0,0 L10,5 L0,10 z" fill={fill} />
  </marker>
);
const label = (id: string) => (id.length > LABEL_CHARS ? `${id.slice(0, LABEL_CHARS - 1)}…` : id);
const path = (points: { x: number; y: number }[]) =>
  points.map((p, i) => `${i === 0 ? 'M' : 'L'}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' ');

export function DependencyGraph(props: {
  tasks: readonly GraphTask[];
  /** Ids in order along the critical path (or a cycle): their nodes and the edges between them are marked. */
  marked?: readonly string[];
  markedLabel?: string;
  onOpen?: (taskId: string) => void;
  title: string;
}): JSX.Element {
  if (props.tasks.length > MAX_GRAPH_NODES) {
    return (
      <p class="note">
        {props.tasks.length} tasks: the graph is drawn up to {MAX_GRAPH_NODES}; the table below lists them
        all.
      </p>
    );
  }
  const laid = layoutGraph(props.tasks);
  const marked = props.marked ?? [];
  const onPath = new Set(marked);
  const markedEdge = new Set(marked.slice(1).map((id, i) => `${marked[i]}->${id}`));
  const open = (id: string) => props.onOpen?.(id);
  return (
    <figure class="graph-scroll" aria-label={props.title}>
      <svg class="graph" width={laid.width} height={laid.height} viewBox={`0 0 ${laid.width} ${laid.height}`}>
        <title>{props.title}</title>
        <defs>
          {arrowMarker('arrow', '#4b5563')}
          {arrowMarker('arrow-marked', '#1d4ed8')}
        </defs>
        {laid.edges.map((e) => {
          const isMarked = markedEdge.has(`${e.from}->${e.to}`);
          return (
            <path
              key={`${e.from}->${e.to}`}
              class={isMarked ? 'edge marked' : 'edge'}
              d={path(e.points)}
              marker-end={isMarked ? 'url(#arrow-marked)' : 'url(#arrow)'}
            />
          );
        })}
        {laid.nodes.map((n) => (
          // biome-ignore lint/a11y/useSemanticElements: an SVG node cannot be a <button>; role and key handling make it one
          <g
            key={n.id}
            class={`node status-${n.status}${onPath.has(n.id) ? ' marked' : ''}`}
            transform={`translate(${n.x - NODE_WIDTH / 2},${n.y - NODE_HEIGHT / 2})`}
            tabindex={props.onOpen ? 0 : -1}
            role="button"
            data-task={n.id}
            data-status={n.status}
            aria-label={`${n.id}: ${n.status}${onPath.has(n.id) && props.markedLabel ? `, ${props.markedLabel}` : ''}`}
            onClick={() => open(n.id)}
            onKeyDown={(event) => {
              if (event.key === 'Enter' || event.key === ' ') {
                event.preventDefault();
                open(n.id);
              }
            }}
          >
            <title>{`${n.id}: ${n.status}`}</title>
            <rect width={NODE_WIDTH} height={NODE_HEIGHT} rx="6" fill={STATUS_FILL[n.status] ?? '#ffffff'} />
            <text x="10" y="19" class="node-id">
              {label(n.id)}
            </text>
            <text x="10" y="36" class="node-status">
              {n.status.toLowerCase().replace('_', ' ')}
            </text>
          </g>
        ))}
      </svg>
    </figure>
  );
}
