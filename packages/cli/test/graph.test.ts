import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dripline, FIXTURES, tempDir, trialPlan } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

/** A plan with every kind of node and of edge, and ids that need escaping in Mermaid. */
const plan = {
  version: '1.0',
  name: 'Spring <promo> & "friends"',
  timezone: 'America/New_York',
  startNodeId: 'intro',
  exitOn: ['unsubscribed'],
  nodes: [
    { id: 'intro', action: 'send', channel: 'email', subject: 'Hello', body: 'Hi', transitions: [{ on: 'opened', to: 'tier.check', within: 'P3D' }, { on: 'no_open', to: 'ab-test', after: 'P3D' }] },
    { id: 'tier.check', action: 'branch', cases: [{ if: { attr: 'tier', eq: 'vip' }, to: 'vip_sms' }], else: 'wait_click' },
    { id: 'ab-test', action: 'split', variants: [{ weight: 70, to: 'vip_sms' }, { weight: 30, to: 'done' }] },
    { id: 'wait_click', action: 'wait', transitions: [{ on: 'clicked', to: 'done' }, { on: 'no_click', to: 'vip_sms', after: 'P1D' }] },
    { id: 'vip_sms', action: 'send', channel: 'sms', body: 'Hey', transitions: [] },
    { id: 'done', action: 'exit' },
  ],
};
const ids = plan.nodes.map((n) => n.id);
const file = tmp.write('plan.json', plan);

/** XML character references and the five entities, decoded (Graphviz writes `-` as `&#45;`). */
function decode(s: string): string {
  return s
    .replace(/&#x([0-9a-f]+);/gi, (_, h: string) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&#(\d+);/g, (_, d: string) => String.fromCodePoint(Number(d)))
    .replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
}

/** The node ids of a Graphviz SVG: the <title> of each `<g class="node">`. */
function svgNodeIds(svg: string): string[] {
  return [...svg.matchAll(/<g id="node\d+" class="node">\s*<title>([^<]*)<\/title>/g)].map((m) => decode(m[1]!));
}

/** Checks that markup is well-formed XML-ish: tags balance and nest, one root element. */
function checkXmlish(text: string, root: string): void {
  const body = text
    .replace(/<\?[\s\S]*?\?>/g, '')
    .replace(/<!--[\s\S]*?-->/g, '')
    .replace(/<!DOCTYPE[\s\S]*?>/gi, '');
  const stack: string[] = [];
  let roots = 0;
  for (const m of body.matchAll(/<(\/?)([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>/g)) {
    const [, close, name, , selfClose] = m;
    if (close) {
      expect(stack.pop(), `closing </${name}>`).toBe(name);
    } else if (!selfClose) {
      if (stack.length === 0) roots += 1;
      stack.push(name!);
    } else if (stack.length === 0) roots += 1;
  }
  expect(stack, 'unclosed tags').toEqual([]);
  expect(roots).toBe(1);
  expect(body.trim().startsWith(`<${root}`)).toBe(true);
  // Every '<' starts a tag the pattern above understood (text never holds a raw '<').
  const tags = [...body.matchAll(/<(\/?)([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>/g)].length;
  expect((body.match(/</g) ?? []).length).toBe(tags);
}

describe('dripline graph', () => {
  it('prints Mermaid by default, with every node and edge', () => {
    const r = dripline(['graph', file], tmp.dir);
    expect(r.code).toBe(0);
    expect(r.stdout.startsWith('flowchart TD\n')).toBe(true);
    const nodeLines = r.stdout.split('\n').filter((l) => /^\s+n_\S+[[({]/.test(l));
    expect(nodeLines).toHaveLength(ids.length);
    const edgeCount = 2 + 2 + 2 + 2; // intro, tier.check (case + else), ab-test, wait_click
    expect(r.stdout.split('\n').filter((l) => /-->|\.->/.test(l))).toHaveLength(edgeCount);
    expect(r.stdout).toContain('no_open after P3D');
    const lr = dripline(['graph', file, '--direction', 'LR'], tmp.dir);
    expect(lr.stdout.startsWith('flowchart LR\n')).toBe(true);
  });

  it('prints Graphviz DOT', () => {
    const r = dripline(['graph', file, '--format', 'dot'], tmp.dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^digraph /);
    for (const id of ids) expect(r.stdout).toContain(`"${id}" [label=`);
  });

  it('renders SVG that is well-formed and holds every node id', () => {
    const r = dripline(['graph', file, '-f', 'svg'], tmp.dir);
    expect(r.code).toBe(0);
    checkXmlish(r.stdout, 'svg');
    expect(svgNodeIds(r.stdout).sort()).toEqual([...ids].sort());
    // The plan name is escaped, not injected as markup.
    expect(r.stdout).toContain('&lt;promo&gt;');
  });

  it('writes a self-contained HTML page with the inline SVG and the plan name', () => {
    const out = join(tmp.dir, 'out.html');
    const r = dripline(['graph', file, '-o', out], tmp.dir); // format from the extension
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('wrote');
    const html = readFileSync(out, 'utf8');
    expect(html).toMatch(/^<!doctype html>/i);
    expect(html).toContain('<title>Spring &lt;promo&gt; &amp; &quot;friends&quot;');
    expect(html).toContain('<h1>Spring &lt;promo&gt; &amp; &quot;friends&quot;</h1>');
    const svg = html.slice(html.indexOf('<svg'), html.indexOf('</svg>') + '</svg>'.length);
    checkXmlish(svg, 'svg');
    expect(svgNodeIds(svg).sort()).toEqual([...ids].sort());
    // Nothing is fetched: no scripts, stylesheets or images from elsewhere.
    expect(html).not.toMatch(/<script|<link|src=|@import|url\(/i);
    expect(html.replace(/xmlns(:\w+)?="[^"]*"|<!DOCTYPE[^>]*>/g, '')).not.toMatch(/https?:\/\//);
  });

  it('infers the format from the -o file name, and --format wins over it', () => {
    const svgOut = join(tmp.dir, 'g.svg');
    expect(dripline(['graph', file, '-o', svgOut], tmp.dir).code).toBe(0);
    expect(readFileSync(svgOut, 'utf8')).toContain('<svg');
    const forced = join(tmp.dir, 'g2.svg');
    expect(dripline(['graph', file, '-o', forced, '-f', 'dot'], tmp.dir).code).toBe(0);
    expect(readFileSync(forced, 'utf8')).toMatch(/^digraph/);
  });

  it('refuses an invalid plan with its issues (exit 1), and draws it with --force', () => {
    const broken = join(FIXTURES, 'design-contract.json'); // targets a, b, x, y are missing
    const r = dripline(['graph', broken], tmp.dir);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('unknown_target  nodes[3].variants[0].to = "a"');
    expect(r.stderr).toContain('--force');
    const forced = dripline(['graph', broken, '--force', '-f', 'svg'], tmp.dir);
    expect(forced.code).toBe(0);
    checkXmlish(forced.stdout, 'svg');
    const names = JSON.parse(readFileSync(broken, 'utf8')).nodes.map((n: { id: string }) => n.id);
    expect(svgNodeIds(forced.stdout)).toEqual(expect.arrayContaining(names));
  });

  it('never crashes on a broken plan, --force or not: it draws it or says why (exit 0, 1 or 2)', () => {
    const dir = join(FIXTURES, 'broken');
    for (const name of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
      const r = dripline(['graph', join(dir, name), '--force'], tmp.dir);
      expect([0, 1, 2], `${name}: ${r.stderr}`).toContain(r.code);
      expect(r.stderr, name).not.toMatch(/unexpected error|\n\s+at /);
      if (r.code === 0) expect(r.stdout, name).toMatch(/^flowchart TD\n/);
      else expect(r.stderr, name).toMatch(/^dripline: /m);
    }
  }, 120_000);

  it('rejects an unknown format and an unwritable output with exit 2', () => {
    const r = dripline(['graph', file, '-f', 'png'], tmp.dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Allowed choices are mermaid, dot, svg, html');
    const w = dripline(['graph', file, '-o', join(tmp.dir, 'no-such-dir', 'x.svg')], tmp.dir);
    expect(w.code).toBe(2);
    expect(w.stderr).toContain('cannot be written');
    expect(existsSync(join(tmp.dir, 'no-such-dir'))).toBe(false);
  });

  it('draws the plans of the other tests too (a send/exit plan)', () => {
    const f = tmp.write('trial.json', trialPlan());
    const r = dripline(['graph', f, '-f', 'html'], tmp.dir);
    expect(r.code).toBe(0);
    expect(svgNodeIds(r.stdout).sort()).toEqual(trialPlan().nodes.map((n) => n.id).sort());
  });
});
