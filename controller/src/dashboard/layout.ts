// A deterministic layered layout: columns by call depth (longest path from the callers, cycles broken), rows
// ordered by the callers' rows, so Bookinfo reads left to right productpage -> reviews -> ratings, the same every time.
import type { Graph } from './graph.js';

export interface Layout {
  width: number;
  height: number;
  /** Node id -> centre of its box. Waypoints sit under the service they serve (their first). */
  positions: Record<string, { x: number; y: number; layer: number }>;
}

export const COLUMN = 290;
export const ROW = 120;
const MARGIN_X = 90;
const MARGIN_Y = 80;

export function layoutGraph(g: Pick<Graph, 'nodes' | 'edges'>): Layout {
  const ids = g.nodes.filter((n) => n.kind !== 'waypoint').map((n) => n.id).sort();
  const idSet = new Set(ids);
  const out = new Map<string, string[]>();
  const inc = new Map<string, string[]>();
  for (const id of ids) {
    out.set(id, []);
    inc.set(id, []);
  }
  for (const e of [...g.edges].sort((a, b) => a.id.localeCompare(b.id))) {
    if (!idSet.has(e.source) || !idSet.has(e.target) || e.source === e.target) continue;
    out.get(e.source)!.push(e.target);
    inc.get(e.target)!.push(e.source);
  }

  // Depth-first from the roots (no callers) in name order, then whatever a cycle left; back edges are dropped.
  const state = new Map<string, 1 | 2>();
  const order: string[] = [];
  const dag = new Map<string, string[]>(ids.map((id) => [id, []]));
  const visit = (start: string) => {
    const stack: Array<{ id: string; i: number }> = [{ id: start, i: 0 }];
    state.set(start, 1);
    while (stack.length) {
      const top = stack[stack.length - 1];
      const next = out.get(top.id)![top.i++];
      if (next === undefined) {
        state.set(top.id, 2);
        order.push(top.id);
        stack.pop();
      } else if (!state.has(next)) {
        dag.get(top.id)!.push(next);
        state.set(next, 1);
        stack.push({ id: next, i: 0 });
      } else if (state.get(next) === 2) dag.get(top.id)!.push(next);
    }
  };
  for (const id of ids) if (inc.get(id)!.length === 0 && !state.has(id)) visit(id);
  for (const id of ids) if (!state.has(id)) visit(id);

  // Longest path over the DAG, in topological order (reverse post-order).
  const layer = new Map<string, number>(ids.map((id) => [id, 0]));
  for (const id of order.reverse()) for (const t of dag.get(id)!) layer.set(t, Math.max(layer.get(t)!, layer.get(id)! + 1));

  // Rows: column by column, ordered by the mean row of their callers in earlier columns, then by id.
  const columns = new Map<number, string[]>();
  for (const id of ids) columns.set(layer.get(id)!, [...(columns.get(layer.get(id)!) ?? []), id]);
  const row = new Map<string, number>();
  const maxLayer = Math.max(-1, ...columns.keys());
  for (let l = 0; l <= maxLayer; l++) {
    const col = columns.get(l) ?? [];
    const key = (id: string) => {
      const callers = inc.get(id)!.filter((c) => row.has(c));
      return callers.length ? callers.reduce((s, c) => s + row.get(c)!, 0) / callers.length : Number.POSITIVE_INFINITY;
    };
    // Each node as near its callers' mean row as the nodes above it in the column allow.
    let prev = -1;
    for (const id of col.sort((a, b) => key(a) - key(b) || a.localeCompare(b))) {
      const k = key(id);
      prev = Math.max(prev + 1, Number.isFinite(k) ? Math.round(k) : 0);
      row.set(id, prev);
    }
  }

  const positions: Layout['positions'] = {};
  let rows = 0;
  for (const id of ids) {
    rows = Math.max(rows, row.get(id)! + 1);
    positions[id] = { x: MARGIN_X + layer.get(id)! * COLUMN, y: MARGIN_Y + row.get(id)! * ROW, layer: layer.get(id)! };
  }
  // A waypoint sits just left of and below the (first) service it serves: the hop into that service.
  for (const n of g.nodes) {
    if (n.kind !== 'waypoint') continue;
    const at = (n.serves ?? []).map((s) => positions[s]).find(Boolean);
    positions[n.id] = at ? { x: at.x - COLUMN / 2, y: at.y + ROW / 2 - 8, layer: at.layer } : { x: MARGIN_X, y: MARGIN_Y + rows * ROW, layer: 0 };
    if (!at) rows++;
  }
  return { width: MARGIN_X * 2 + Math.max(0, maxLayer) * COLUMN, height: MARGIN_Y * 2 + Math.max(0, rows - 1) * ROW + ROW / 2, positions };
}
