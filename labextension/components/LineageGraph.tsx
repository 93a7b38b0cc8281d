import { Clipboard } from '@jupyterlab/apputils';
import * as React from 'react';

import { ILineageEdge, ILineageGraph, ILineageNode, LineageKind } from '../api';
import { opensView } from './RegistryModel';

/** Node size and spacing in SVG units (the drawing scales down to the sidebar's width). */
const NODE_W = 132;
const NODE_H = 36;
const GAP_X = 12;
const GAP_Y = 30;
const PAD = 4;
/** Characters of a label that fit in a node. */
const LABEL_CHARS = 19;

/** Order of kinds within a layer. */
const KINDS: LineageKind[] = [
  'version',
  'run',
  'notebook',
  'nblift_run',
  'snapshot',
  'git',
  'environment',
  'data'
];

const KIND_NAMES: Record<LineageKind, string> = {
  version: 'model version',
  run: 'MLflow run',
  nblift_run: 'nblift run',
  notebook: 'notebook',
  snapshot: 'snapshot',
  environment: 'environment lock',
  data: 'data',
  git: 'git commit'
};

export interface IPlacedNode {
  node: ILineageNode;
  layer: number;
  x: number;
  y: number;
}

export interface ILineageLayout {
  nodes: IPlacedNode[];
  edges: { edge: ILineageEdge; from: IPlacedNode; to: IPlacedNode }[];
  width: number;
  height: number;
}

/** Each node's layer: the longest path to it from a node nothing points at (version first). */
function layers(graph: ILineageGraph): Map<string, number> {
  const depth = new Map(graph.nodes.map(n => [n.key, 0]));
  // Longest paths by relaxation; a cycle (never written by the server) stops after one pass per node.
  for (let pass = 0; pass < graph.nodes.length; pass++) {
    let moved = false;
    for (const e of graph.edges) {
      const from = depth.get(e.from);
      const to = depth.get(e.to);
      if (from !== undefined && to !== undefined && to < from + 1) {
        depth.set(e.to, from + 1);
        moved = true;
      }
    }
    if (!moved) {
      break;
    }
  }
  return depth;
}

/** Layered top-down layout: version, run, notebook, snapshot, then environment, data and git. */
export function layoutLineage(graph: ILineageGraph): ILineageLayout {
  const depth = layers(graph);
  const rows: ILineageNode[][] = [];
  for (const node of graph.nodes) {
    const layer = depth.get(node.key) ?? 0;
    (rows[layer] = rows[layer] ?? []).push(node);
  }
  const widest = Math.max(1, ...rows.map(r => r?.length ?? 0));
  const width = widest * NODE_W + (widest - 1) * GAP_X + 2 * PAD;
  const placed = new Map<string, IPlacedNode>();
  rows.forEach((row, layer) => {
    row.sort(
      (a, b) =>
        KINDS.indexOf(a.kind) - KINDS.indexOf(b.kind) ||
        a.label.localeCompare(b.label)
    );
    const span = row.length * NODE_W + (row.length - 1) * GAP_X;
    row.forEach((node, i) => {
      placed.set(node.key, {
        node,
        layer,
        x: (width - span) / 2 + i * (NODE_W + GAP_X),
        y: PAD + layer * (NODE_H + GAP_Y)
      });
    });
  });
  const edges = graph.edges.flatMap(edge => {
    const from = placed.get(edge.from);
    const to = placed.get(edge.to);
    return from && to ? [{ edge, from, to }] : [];
  });
  const height = PAD * 2 + rows.length * NODE_H + (rows.length - 1) * GAP_Y;
  return { nodes: [...placed.values()], edges, width, height };
}

function shorten(text: string): string {
  return text.length > LABEL_CHARS
    ? `${text.slice(0, LABEL_CHARS - 1)}…`
    : text;
}

function Edge(props: {
  from: IPlacedNode;
  to: IPlacedNode;
  label: string;
}): JSX.Element {
  const { from, to } = props;
  const x1 = from.x + NODE_W / 2;
  const y1 = from.y + NODE_H;
  const x2 = to.x + NODE_W / 2;
  const y2 = to.y;
  const bend = (y2 - y1) / 2;
  return (
    <g className="jp-nblift-lineage-edge">
      <title>{props.label}</title>
      <path
        d={`M ${x1} ${y1} C ${x1} ${y1 + bend}, ${x2} ${y2 - bend}, ${x2} ${y2 - 5}`}
      />
      <polygon points={`${x2 - 4},${y2 - 6} ${x2 + 4},${y2 - 6} ${x2},${y2}`} />
    </g>
  );
}

function Node(props: {
  placed: IPlacedNode;
  copied: boolean;
  onActivate: (node: ILineageNode) => void;
}): JSX.Element {
  const { node, x, y } = props.placed;
  const opens = opensView(node);
  const copies = node.kind === 'data' || node.kind === 'git';
  const action = opens ? 'open' : copies ? 'copy the id of' : null;
  const name = `${KIND_NAMES[node.kind] ?? node.kind} ${node.label}`;
  const activate = (): void => props.onActivate(node);
  return (
    <g
      className={`jp-nblift-lineage-node jp-nblift-lineage-${node.kind}${action ? ' jp-mod-active' : ''}`}
      transform={`translate(${x}, ${y})`}
      data-testid={`nblift-lineage-${node.kind}`}
      role={action ? 'button' : 'img'}
      tabIndex={action ? 0 : undefined}
      aria-label={action ? `${action} ${name}` : name}
      onClick={action ? activate : undefined}
      onKeyDown={
        action
          ? e => {
              if (e.key === 'Enter' || e.key === ' ') {
                e.preventDefault();
                activate();
              }
            }
          : undefined
      }
    >
      <title>{`${name}\n${node.id}`}</title>
      <rect width={NODE_W} height={NODE_H} rx={4} />
      <text x={8} y={14} className="jp-nblift-lineage-kind">
        {props.copied ? 'copied' : (KIND_NAMES[node.kind] ?? node.kind)}
      </text>
      <text x={8} y={29} className="jp-nblift-lineage-label">
        {shorten(node.label)}
      </text>
    </g>
  );
}

/**
 * A model version's lineage drawn as a layered graph. Nodes with a view of their own open it (`onOpen`);
 * data files and git commits copy their id.
 */
export function LineageGraph(props: {
  graph: ILineageGraph;
  onOpen: (node: ILineageNode) => void;
}): JSX.Element {
  const { graph, onOpen } = props;
  const layout = React.useMemo(() => layoutLineage(graph), [graph]);
  const [copied, setCopied] = React.useState<string | null>(null);
  React.useEffect(() => {
    if (copied === null) {
      return;
    }
    const timer = window.setTimeout(() => setCopied(null), 1500);
    return () => window.clearTimeout(timer);
  }, [copied]);
  const activate = (node: ILineageNode): void => {
    if (opensView(node)) {
      onOpen(node);
    } else {
      Clipboard.copyToSystem(node.id);
      setCopied(node.key);
    }
  };
  return (
    <figure className="jp-nblift-lineage" aria-label="lineage graph">
      <svg
        viewBox={`0 0 ${layout.width} ${layout.height}`}
        width="100%"
        style={{ maxWidth: layout.width }}
        role="group"
      >
        {layout.edges.map(({ edge, from, to }, i) => (
          <Edge key={i} from={from} to={to} label={edge.label} />
        ))}
        {layout.nodes.map(placed => (
          <Node
            key={placed.node.key}
            placed={placed}
            copied={copied === placed.node.key}
            onActivate={activate}
          />
        ))}
      </svg>
      <figcaption className="jp-nblift-muted">
        Click a node to open it; data files and commits copy their id.
      </figcaption>
    </figure>
  );
}
