// Draws a plan as SVG on the server, from core's `planGraph`: no browser library, no
// network. A small layered (Sugiyama-style) layout:
//   1. back edges (loops) are found by a depth-first walk from the start node;
//   2. every node's layer is its longest forward path from a root;
//   3. nodes within a layer are ordered by the mean position of their neighbours, a few
//      sweeps down and up, which removes most crossings of small plans;
//   4. forward edges are drawn top to bottom as curves, loops and same-layer edges as
//      curves around the right side; timeouts dashed, like planToMermaid draws them.
// Every piece of text comes from the plan (user input) and is XML-escaped.

const FONT = 12;
const CHAR_W = 6.8; // average advance of 12px sans-serif
const LAYER_GAP = 84;
const NODE_GAP = 36;
const MARGIN = 24;

const COLORS = {
  send: { fill: '#e8f1ff', stroke: '#2f6fd6' },
  wait: { fill: '#fff6e0', stroke: '#c48a00' },
  branch: { fill: '#f1e8ff', stroke: '#7a3fd1' },
  split: { fill: '#f1e8ff', stroke: '#7a3fd1' },
  exit: { fill: '#e9f7ee', stroke: '#2f8f4e' },
};

/** XML text/attribute escaping. */
export function escapeXml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

const clip = (s, max) => (s.length > max ? `${s.slice(0, max - 1)}…` : s);

/**
 * Positions of the nodes of a plan graph.
 * @param {import('@dripline/core').PlanGraph} graph
 */
export function layoutPlanGraph(graph) {
  const ids = graph.nodes.map((n) => n.id);
  const known = new Set(ids);
  const edges = graph.edges.filter((e) => known.has(e.from) && known.has(e.to));
  const out = new Map(ids.map((id) => [id, /** @type {string[]} */ ([])]));
  for (const e of edges) out.get(e.from).push(e.to);

  // 1. Back edges: an edge to a node still on the DFS stack closes a loop.
  const state = new Map(); // 1 on stack, 2 done
  const back = new Set();
  const start = graph.nodes.find((n) => n.start)?.id;
  const roots = [...(start ? [start] : []), ...ids];
  for (const root of roots) {
    if (state.has(root)) continue;
    const stack = [[root, 0]];
    state.set(root, 1);
    while (stack.length) {
      const top = stack[stack.length - 1];
      const [id, i] = top;
      const next = out.get(id);
      if (i < next.length) {
        top[1] = i + 1;
        const to = next[i];
        if (state.get(to) === 1) back.add(`${id}\u0000${to}`);
        else if (!state.has(to)) {
          state.set(to, 1);
          stack.push([to, 0]);
        }
      } else {
        state.set(id, 2);
        stack.pop();
      }
    }
  }
  const isBack = (e) => e.from === e.to || back.has(`${e.from}\u0000${e.to}`);
  const forward = edges.filter((e) => !isBack(e));

  // 2. Layers: longest path over the forward edges (Kahn's order).
  const indeg = new Map(ids.map((id) => [id, 0]));
  for (const e of forward) indeg.set(e.to, indeg.get(e.to) + 1);
  const layerOf = new Map(ids.map((id) => [id, 0]));
  const queue = ids.filter((id) => indeg.get(id) === 0);
  while (queue.length) {
    const id = queue.shift();
    for (const e of forward) {
      if (e.from !== id) continue;
      layerOf.set(e.to, Math.max(layerOf.get(e.to), layerOf.get(id) + 1));
      indeg.set(e.to, indeg.get(e.to) - 1);
      if (indeg.get(e.to) === 0) queue.push(e.to);
    }
  }
  const depth = Math.max(0, ...layerOf.values());
  /** @type {string[][]} */
  const layers = Array.from({ length: depth + 1 }, () => []);
  for (const id of ids) layers[layerOf.get(id)].push(id);

  // Long forward edges get a virtual node in every layer they cross, so they are ordered
  // (and routed) around the real nodes instead of through them; the label sits on the first.
  /** @type {Array<{ from: string, to: string }>} */
  const segments = [];
  const chains = new Map(); // forward edge index → virtual node ids
  forward.forEach((e, k) => {
    const chain = [];
    let prev = e.from;
    for (let L = layerOf.get(e.from) + 1; L < layerOf.get(e.to); L++) {
      const v = `\u0000v${k}:${L}`;
      layerOf.set(v, L);
      layers[L].push(v);
      chain.push(v);
      segments.push({ from: prev, to: v });
      prev = v;
    }
    segments.push({ from: prev, to: e.to });
    chains.set(e, chain);
  });

  // 3. Order within layers by barycentre of the neighbours in the adjacent layer.
  const index = () => new Map(layers.flatMap((l) => l.map((id, i) => [id, i])));
  const preds = new Map();
  const succs = new Map();
  for (const s of segments) {
    if (!preds.has(s.to)) preds.set(s.to, []);
    if (!succs.has(s.from)) succs.set(s.from, []);
    preds.get(s.to).push(s.from);
    succs.get(s.from).push(s.to);
  }
  const sweep = (from, to, step, neighbours) => {
    for (let L = from; L !== to; L += step) {
      const pos = index();
      const key = new Map(
        layers[L].map((id, i) => {
          const ns = neighbours.get(id) ?? [];
          return [id, ns.length ? ns.reduce((s, n) => s + pos.get(n), 0) / ns.length : i];
        }),
      );
      layers[L].sort((a, b) => key.get(a) - key.get(b));
    }
  };
  for (let k = 0; k < 4; k++) {
    sweep(1, layers.length, 1, preds);
    sweep(layers.length - 2, -1, -1, succs);
  }

  // 4. Sizes and coordinates.
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const boxes = new Map();
  for (const n of graph.nodes) {
    const label = clip(n.label, 40);
    const sub = n.label === n.id ? '' : clip(n.id, 40);
    const textW = Math.max(label.length, sub.length) * CHAR_W;
    const diamond = n.action === 'branch' || n.action === 'split';
    const w = Math.round(Math.max(diamond ? 110 : 90, textW + (diamond ? 56 : 28)));
    const h = diamond ? 58 : sub ? 44 : 34;
    boxes.set(n.id, { id: n.id, node: n, label, sub, w, h, x: 0, y: 0 });
  }
  for (const [e, chain] of chains)
    chain.forEach((v, i) => boxes.set(v, { id: v, node: null, label: '', sub: '', w: i === 0 ? labelWidth(e.label) : 16, h: 16, x: 0, y: 0 }));
  const layerW = layers.map((l) => l.reduce((s, id) => s + boxes.get(id).w, 0) + NODE_GAP * Math.max(0, l.length - 1));
  const width = Math.max(200, ...layerW);
  let y = MARGIN;
  layers.forEach((l, L) => {
    const h = Math.max(0, ...l.map((id) => boxes.get(id).h));
    let x = MARGIN + (width - layerW[L]) / 2;
    for (const id of l) {
      const b = boxes.get(id);
      b.x = x;
      b.y = y + (h - b.h) / 2;
      x += b.w + NODE_GAP;
    }
    y += h + LAYER_GAP;
  });
  const hasSideEdges = edges.some((e) => isBack(e) || layerOf.get(e.from) === layerOf.get(e.to));
  return {
    boxes,
    byId,
    edges: edges.map((e) => {
      const chain = chains.get(e);
      return { ...e, back: !chain, via: (chain ?? []).map((v) => boxes.get(v)) };
    }),
    width: MARGIN * 2 + width + (hasSideEdges ? 120 : 0),
    height: Math.max(80, y - LAYER_GAP + MARGIN),
    contentRight: MARGIN + width,
  };
}

const labelWidth = (text) => clip(text, 36).length * (CHAR_W - 0.8) + 8;

function nodeShape(b) {
  const { fill, stroke } = COLORS[b.node.action] ?? COLORS.send;
  const sw = b.node.start ? 3 : 1.5;
  const common = `fill="${fill}" stroke="${stroke}" stroke-width="${sw}"`;
  const cx = b.x + b.w / 2;
  const cy = b.y + b.h / 2;
  switch (b.node.action) {
    case 'wait':
      return `<rect x="${b.x}" y="${b.y}" width="${b.w}" height="${b.h}" rx="14" ${common}/>`;
    case 'branch':
    case 'split':
      return `<polygon points="${cx},${b.y} ${b.x + b.w},${cy} ${cx},${b.y + b.h} ${b.x},${cy}" ${common}/>`;
    case 'exit':
      return `<rect x="${b.x}" y="${b.y}" width="${b.w}" height="${b.h}" rx="${b.h / 2}" ${common}/>`;
    default:
      return `<rect x="${b.x}" y="${b.y}" width="${b.w}" height="${b.h}" rx="3" ${common}/>`;
  }
}

function edgeLabel(x, y, text) {
  const t = clip(text, 36);
  const w = labelWidth(text);
  return `<rect x="${(x - w / 2).toFixed(1)}" y="${(y - 8).toFixed(1)}" width="${w.toFixed(1)}" height="15" rx="3" fill="#ffffff" fill-opacity="0.9"/><text x="${x.toFixed(1)}" y="${(y + 3.5).toFixed(1)}" text-anchor="middle" font-size="10" fill="#444">${escapeXml(t)}</text>`;
}

/**
 * The plan graph as a standalone SVG document (no scripts, no external references).
 * @param {import('@dripline/core').PlanGraph} graph
 * @param {{ title?: string }} [options]
 * @returns {string}
 */
export function renderPlanSvg(graph, options = {}) {
  const g = layoutPlanGraph(graph);
  const parts = [];
  let side = 0;
  const pairCount = new Map();
  for (const e of g.edges) {
    const a = g.boxes.get(e.from);
    const b = g.boxes.get(e.to);
    const pair = `${e.from}\u0000${e.to}`;
    const nth = pairCount.get(pair) ?? 0;
    pairCount.set(pair, nth + 1);
    const dash = e.kind === 'timeout' ? ' stroke-dasharray="5 4"' : '';
    let d;
    let lx;
    let ly;
    if (!e.back) {
      // Through the edge's virtual nodes: vertical tangents at every point, so the curve
      // leaves and enters boxes straight down.
      const pts = [[a.x + a.w / 2 + nth * 10, a.y + a.h], ...e.via.map((v) => [v.x + v.w / 2, v.y + v.h / 2]), [b.x + b.w / 2 + nth * 10, b.y - 2]];
      d = `M${pts[0][0].toFixed(1)},${pts[0][1].toFixed(1)}`;
      for (let i = 1; i < pts.length; i++) {
        const [x1, y1] = pts[i - 1];
        const [x2, y2] = pts[i];
        const dy = (y2 - y1) / 2;
        d += ` C${x1.toFixed(1)},${(y1 + dy).toFixed(1)} ${x2.toFixed(1)},${(y2 - dy).toFixed(1)} ${x2.toFixed(1)},${y2.toFixed(1)}`;
      }
      if (e.via.length) {
        lx = e.via[0].x + e.via[0].w / 2;
        ly = e.via[0].y + e.via[0].h / 2;
      } else {
        lx = (pts[0][0] + pts[1][0]) / 2;
        ly = (pts[0][1] + pts[1][1]) / 2 + nth * 14;
      }
    } else {
      // Loops and same-layer edges go around the right side of the drawing.
      side += 1;
      const bulge = g.contentRight + 20 + (side % 4) * 24;
      const x1 = a.x + a.w;
      const y1 = a.y + a.h / 2;
      const x2 = b.x + b.w + 2;
      const y2 = b.y + b.h / 2;
      d = `M${x1.toFixed(1)},${y1.toFixed(1)} C${bulge},${y1.toFixed(1)} ${bulge},${y2.toFixed(1)} ${x2.toFixed(1)},${y2.toFixed(1)}`;
      lx = bulge - 6;
      ly = (y1 + y2) / 2;
    }
    parts.push(`<path d="${d}" fill="none" stroke="#666" stroke-width="1.3"${dash} marker-end="url(#arrow)"><title>${escapeXml(`${e.from} → ${e.to}: ${e.label}`)}</title></path>`);
    parts.push(edgeLabel(lx, ly, e.label));
  }
  const nodes = [];
  for (const b of g.boxes.values()) {
    if (!b.node) continue; // a long edge's bend point
    const cx = b.x + b.w / 2;
    const cy = b.y + b.h / 2;
    const text = b.sub
      ? `<text x="${cx}" y="${cy - 3}" text-anchor="middle" font-size="${FONT}" font-weight="600" fill="#1b1b1b">${escapeXml(b.label)}</text><text x="${cx}" y="${cy + 12}" text-anchor="middle" font-size="10" fill="#666">${escapeXml(b.sub)}</text>`
      : `<text x="${cx}" y="${cy + 4}" text-anchor="middle" font-size="${FONT}" font-weight="600" fill="#1b1b1b">${escapeXml(b.label)}</text>`;
    nodes.push(
      `<g class="plan-node" data-node-id="${escapeXml(b.id)}" data-action="${escapeXml(b.node.action)}"><title>${escapeXml(`${b.id} (${b.node.action})${b.node.start ? ' — start' : ''}`)}</title>${nodeShape(b)}${text}</g>`,
    );
  }
  const title = options.title ? `<title>${escapeXml(options.title)}</title>` : '';
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" class="plan-graph" width="${Math.ceil(g.width)}" height="${Math.ceil(g.height)}" viewBox="0 0 ${Math.ceil(g.width)} ${Math.ceil(g.height)}" font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif" role="img">`,
    title,
    '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#666"/></marker></defs>',
    ...parts,
    ...nodes,
    '</svg>',
  ].join('');
}
