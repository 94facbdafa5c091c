/**
 * A plan as a graph: its nodes and labelled edges, and the same graph written as Mermaid or
 * Graphviz DOT text, for the CLI's `dripline graph`, dashboards and docs. Pure text; rendering
 * the text to SVG is left to Mermaid or Graphviz.
 */
import type { Condition, Plan, PlanInput, PlanNode } from './schema.js';

/** One node of a {@link PlanGraph}. */
export interface PlanGraphNode {
  /** The plan node's id. */
  id: string;
  /** The node's action. */
  action: PlanNode['action'];
  /** A one-line label: the name if the node has one, else a summary of what it does. */
  label: string;
  /** True for the plan's start node. */
  start: boolean;
}

/** One edge of a {@link PlanGraph}: a transition, a branch case or a split variant. */
export interface PlanGraphEdge {
  /** The source node id. */
  from: string;
  /** The target node id. */
  to: string;
  /** What takes the edge: `clicked within P2D`, `no_open after PT72H`, `plan=pro`, `50%`. */
  label: string;
  /** The kind of edge. */
  kind: 'event' | 'timeout' | 'case' | 'else' | 'variant';
}

/** A plan's nodes and edges, in plan order. */
export interface PlanGraph {
  nodes: PlanGraphNode[];
  edges: PlanGraphEdge[];
}

function conditionLabel(c: Condition): string {
  if ('all' in c) return c.all.map(conditionLabel).join(' and ');
  if ('any' in c) return c.any.map(conditionLabel).join(' or ');
  if ('not' in c) return `not (${conditionLabel(c.not)})`;
  if ('event' in c) return `saw ${c.event}`;
  if ('eq' in c) return `${c.attr} = ${JSON.stringify(c.eq)}`;
  if ('ne' in c) return `${c.attr} ≠ ${JSON.stringify(c.ne)}`;
  if ('in' in c) return `${c.attr} in [${c.in.map((v) => JSON.stringify(v)).join(', ')}]`;
  if ('exists' in c) return c.exists ? `has ${c.attr}` : `no ${c.attr}`;
  if ('gt' in c) return `${c.attr} > ${c.gt}`;
  if ('gte' in c) return `${c.attr} ≥ ${c.gte}`;
  if ('lt' in c) return `${c.attr} < ${c.lt}`;
  return `${c.attr} ≤ ${c.lte}`;
}

function nodeLabel(node: PlanNode | PlanInput['nodes'][number]): string {
  if (node.name) return node.name;
  switch (node.action) {
    case 'send':
      return `send ${node.channel ?? 'email'}${node.schedule?.delay ? ` after ${node.schedule.delay}` : ''}${node.schedule?.at ? ` at ${node.schedule.at}` : ''}`;
    case 'wait':
      return 'wait';
    case 'branch':
      return 'branch';
    case 'split':
      return 'split';
    case 'exit':
      return 'exit';
  }
}

/**
 * The graph of a plan. Works on a validated {@link Plan} or on its input form; edges are
 * taken as written, so a plan that failed validation with `unknown_target` still draws (the
 * missing node simply has no box).
 */
export function planGraph(plan: Plan | PlanInput): PlanGraph {
  const nodes: PlanGraphNode[] = [];
  const edges: PlanGraphEdge[] = [];
  for (const node of plan.nodes) {
    nodes.push({ id: node.id, action: node.action, label: nodeLabel(node), start: node.id === plan.startNodeId });
    if (node.action === 'send' || node.action === 'wait') {
      for (const t of node.transitions ?? []) {
        const timeout = t.on.startsWith('no_');
        const when = timeout ? (t.after ? ` after ${t.after}` : '') : t.within ? ` within ${t.within}` : '';
        edges.push({ from: node.id, to: t.to, label: `${t.on}${when}`, kind: timeout ? 'timeout' : 'event' });
      }
    } else if (node.action === 'branch') {
      for (const c of node.cases) edges.push({ from: node.id, to: c.to, label: conditionLabel(c.if as Condition), kind: 'case' });
      edges.push({ from: node.id, to: node.else, label: 'else', kind: 'else' });
    } else if (node.action === 'split') {
      const total = node.variants.reduce((s, v) => s + v.weight, 0);
      for (const v of node.variants) {
        const pct = total > 0 ? `${Math.round((v.weight / total) * 1000) / 10}%` : '0%';
        edges.push({ from: node.id, to: v.to, label: v.name ? `${v.name} ${pct}` : pct, kind: 'variant' });
      }
    }
  }
  return { nodes, edges };
}

/** Mermaid node ids must be plain words; plan ids may hold `-` or `.`. */
function mermaidId(id: string): string {
  return `n_${id.replace(/[^A-Za-z0-9_]/g, (ch) => `_${ch.charCodeAt(0).toString(16)}_`)}`;
}

/** Text inside Mermaid's quoted labels: quotes and angle brackets as entities. */
function mermaidText(s: string): string {
  return s.replace(/"/g, '#quot;').replace(/</g, '#lt;').replace(/>/g, '#gt;');
}

/** Options of {@link planToMermaid}. */
export interface MermaidOptions {
  /** Flowchart direction. Default `TD` (top down). */
  direction?: 'TD' | 'LR';
}

/**
 * The plan as a Mermaid flowchart. Send nodes are boxes, waits rounded, branches and splits
 * diamonds, exits circles; the start node is marked with a bold border; timeout edges are
 * dotted.
 *
 * @example
 * ```ts
 * console.log(planToMermaid(plan));
 * // flowchart TD
 * //   n_welcome["Welcome email"]:::start
 * //   n_welcome -- "opened within P3D" --> n_tips
 * ```
 */
export function planToMermaid(plan: Plan | PlanInput, options: MermaidOptions = {}): string {
  const { nodes, edges } = planGraph(plan);
  const lines = [`flowchart ${options.direction ?? 'TD'}`];
  for (const n of nodes) {
    const text = `"${mermaidText(n.label)}"`;
    const shape =
      n.action === 'send' ? `[${text}]` : n.action === 'wait' ? `(${text})` : n.action === 'exit' ? `((${text}))` : `{${text}}`;
    lines.push(`  ${mermaidId(n.id)}${shape}${n.start ? ':::start' : ''}`);
  }
  for (const e of edges) {
    const arrow = e.kind === 'timeout' ? '-.' : '--';
    const head = e.kind === 'timeout' ? '.->' : '-->';
    lines.push(`  ${mermaidId(e.from)} ${arrow} "${mermaidText(e.label)}" ${head} ${mermaidId(e.to)}`);
  }
  lines.push('  classDef start stroke-width:3px');
  return lines.join('\n') + '\n';
}

function dotString(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

/**
 * The plan as a Graphviz DOT digraph (render it with `dot -Tsvg` or a WebAssembly Graphviz).
 * Shapes follow {@link planToMermaid}: boxes, rounded waits, diamonds, circles for exits.
 */
export function planToDot(plan: Plan | PlanInput): string {
  const { nodes, edges } = planGraph(plan);
  const lines = [
    `digraph ${dotString(plan.name ?? plan.id ?? 'plan')} {`,
    '  rankdir=TB;',
    '  node [fontname="Helvetica", fontsize=11];',
    '  edge [fontname="Helvetica", fontsize=9];',
  ];
  for (const n of nodes) {
    const shape =
      n.action === 'send' ? 'box' : n.action === 'wait' ? 'box, style=rounded' : n.action === 'exit' ? 'doublecircle' : 'diamond';
    const label = n.label === n.id ? n.id : `${n.label}\n(${n.id})`;
    lines.push(`  ${dotString(n.id)} [label=${dotString(label)}, shape=${shape}${n.start ? ', penwidth=2.5' : ''}];`);
  }
  for (const e of edges) {
    lines.push(`  ${dotString(e.from)} -> ${dotString(e.to)} [label=${dotString(e.label)}${e.kind === 'timeout' ? ', style=dashed' : ''}];`);
  }
  lines.push('}');
  return lines.join('\n') + '\n';
}
