/**
 * A plan drawn as Mermaid, Graphviz DOT, SVG or a self-contained HTML page. Mermaid and DOT
 * text come from core (`planToMermaid`, `planToDot`); SVG is Graphviz compiled to WebAssembly
 * (`@hpcc-js/wasm-graphviz`) laying out that DOT, so no `dot` binary and no network are
 * needed. The WebAssembly module is loaded on first use only.
 */
import { planGraph, planToDot, planToMermaid, type Plan, type PlanInput } from '@dripline/core';

/** The formats `dripline graph` writes. */
export type GraphFormat = 'mermaid' | 'dot' | 'svg' | 'html';

/** Every {@link GraphFormat}, in the order the help lists them. */
export const GRAPH_FORMATS: readonly GraphFormat[] = ['mermaid', 'dot', 'svg', 'html'];

/** Options of {@link renderPlanGraph}. */
export interface RenderGraphOptions {
  /** Direction of the Mermaid flowchart: `TD` (default) or `LR`. */
  direction?: 'TD' | 'LR';
}

/** The Graphviz instance, loaded once per process on first use. */
let graphviz: Promise<{ dot(source: string, format?: 'svg'): string }> | undefined;

function loadGraphviz(): Promise<{ dot(source: string, format?: 'svg'): string }> {
  graphviz ??= import('@hpcc-js/wasm-graphviz').then((m) => m.Graphviz.load());
  return graphviz;
}

/**
 * The plan as an SVG document: core's DOT laid out by Graphviz (WebAssembly). Every node is a
 * `<g class="node">` whose `<title>` is the node id.
 *
 * @example
 * ```ts
 * import { writeFileSync } from 'node:fs';
 * writeFileSync('plan.svg', await renderPlanSvg(plan));
 * ```
 */
export async function renderPlanSvg(plan: Plan | PlanInput): Promise<string> {
  const gv = await loadGraphviz();
  return gv.dot(planToDot(plan), 'svg');
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * A self-contained HTML page showing the plan: its name as the title, the SVG inline, a line
 * of facts (nodes, start node, time zone) and the Mermaid source. It loads nothing from the
 * network, so it can be opened from disk or attached to a ticket.
 *
 * @example
 * ```ts
 * writeFileSync('plan.html', await renderPlanHtml(plan));
 * ```
 */
export async function renderPlanHtml(plan: Plan | PlanInput): Promise<string> {
  const svg = await renderPlanSvg(plan);
  // Keep the <svg> element only: an XML prolog or DOCTYPE is not allowed inside HTML.
  const inline = svg.slice(Math.max(0, svg.indexOf('<svg')));
  const name = plan.name ?? plan.id ?? 'Untitled plan';
  const { nodes, edges } = planGraph(plan);
  const facts = [
    `${nodes.length} node${nodes.length === 1 ? '' : 's'}`,
    `${edges.length} edge${edges.length === 1 ? '' : 's'}`,
    `starts at <code>${escapeHtml(plan.startNodeId)}</code>`,
    ...(plan.timezone ? [`time zone <code>${escapeHtml(plan.timezone)}</code>`] : []),
  ];
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="@dripline/cli">
<title>${escapeHtml(name)} · dripline plan</title>
<style>
  body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2rem; color: #1b1f24; }
  h1 { font-size: 1.4rem; margin: 0 0 .25rem; }
  .facts { color: #57606a; margin: 0 0 1.5rem; }
  .graph { overflow: auto; border: 1px solid #d0d7de; border-radius: 6px; padding: 1rem; background: #fff; }
  .graph svg { max-width: 100%; height: auto; }
  details { margin-top: 1.5rem; }
  pre { background: #f6f8fa; padding: 1rem; border-radius: 6px; overflow: auto; }
</style>
</head>
<body>
<h1>${escapeHtml(name)}</h1>
<p class="facts">${facts.join(' · ')}</p>
<div class="graph">
${inline.trim()}
</div>
<details>
<summary>Mermaid source</summary>
<pre>${escapeHtml(planToMermaid(plan))}</pre>
</details>
</body>
</html>
`;
}

/**
 * The plan in one of the {@link GraphFormat}s: Mermaid and DOT are core's text, SVG and HTML
 * are rendered by {@link renderPlanSvg} and {@link renderPlanHtml}.
 *
 * @example
 * ```ts
 * console.log(await renderPlanGraph(plan, 'mermaid', { direction: 'LR' }));
 * ```
 */
export async function renderPlanGraph(plan: Plan | PlanInput, format: GraphFormat, options: RenderGraphOptions = {}): Promise<string> {
  switch (format) {
    case 'mermaid':
      return planToMermaid(plan, options.direction ? { direction: options.direction } : {});
    case 'dot':
      return planToDot(plan);
    case 'svg':
      return renderPlanSvg(plan);
    case 'html':
      return renderPlanHtml(plan);
  }
}

/** The format a file name implies (`.svg`, `.html`, `.dot`/`.gv`, `.mmd`/`.mermaid`), if any. */
export function graphFormatFromFileName(file: string): GraphFormat | undefined {
  const ext = /\.([A-Za-z]+)$/.exec(file)?.[1]?.toLowerCase();
  switch (ext) {
    case 'svg':
      return 'svg';
    case 'html':
    case 'htm':
      return 'html';
    case 'dot':
    case 'gv':
      return 'dot';
    case 'mmd':
    case 'mermaid':
      return 'mermaid';
    default:
      return undefined;
  }
}
