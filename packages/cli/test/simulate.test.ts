import { afterAll, describe, expect, it } from 'vitest';
import { dripline, tempDir, trialPlan } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

const START = '2026-03-02T16:00:00Z';
const plan = trialPlan();
const planFile = tmp.write('plan.json', plan);

interface Entry {
  kind: string;
  at: number;
  contactId: string;
  record?: { from: string | null; to: string; cause: { kind: string; on?: string } };
  nodeId?: string;
  status?: string;
}
interface SimJson {
  summary: {
    contacts: number;
    sentByNode: Record<string, number>;
    transitions: Record<string, number>;
    byStatus: Record<string, number>;
    events: Record<string, number>;
    movedByQuietHours: number;
  };
  timelines: Record<string, { timezone: string; entries: Entry[] }>;
}

function simulateJson(args: string[]): SimJson {
  const r = dripline(['simulate', planFile, '--start', START, '--until', 'P7D', '--json', ...args], tmp.dir, 120_000);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as SimJson;
}

const path = (entries: Entry[]) => entries.filter((e) => e.kind === 'transition').map((e) => e.record!.to);

describe('dripline simulate', () => {
  it('makes a contact who clicked take the clicked branch, and the others time out', () => {
    const events = tmp.write('events.json', [
      { contact: 'contact-2', event: 'clicked', node: 'hello', after: 'PT3H' },
      { contact: 'contact-4', event: 'unsubscribed', after: 'PT1H' },
    ]);
    const n = 6;
    const out = simulateJson(['--contacts', String(n), '--events', events, '--show', 'all']);
    expect(Object.keys(out.timelines)).toHaveLength(n);
    expect(path(out.timelines['contact-2']!.entries)).toEqual(['hello', 'thanks']);
    expect(path(out.timelines['contact-1']!.entries)).toEqual(['hello', 'nudge']);
    // The click came 3 hours after contact-2's email went out, not 3 hours after the start.
    const c2 = out.timelines['contact-2']!.entries;
    const sent = c2.find((e) => e.kind === 'sent' && e.nodeId === 'hello')!;
    const clicked = c2.find((e) => e.kind === 'transition' && e.record!.cause.on === 'clicked')!;
    expect(clicked.at - sent.at).toBe(3 * 3600_000);
    // contact-4 unsubscribed an hour in: exited, never nudged.
    const c4 = out.timelines['contact-4']!.entries;
    expect(c4.some((e) => e.kind === 'ended' && e.status === 'exited')).toBe(true);
    expect(c4.some((e) => e.kind === 'sent' && e.nodeId === 'nudge')).toBe(false);
    expect(out.summary.transitions['hello → thanks']).toBe(1);
    expect(out.summary.transitions['hello → nudge']).toBe(n - 2);
    expect(out.summary.sentByNode).toEqual({ hello: n, nudge: n - 2 });
    expect(out.summary.byStatus).toEqual({ completed: n - 1, exited: 1 });
  });

  it('prints a readable timeline and summary by default', () => {
    const events = tmp.write('events-text.json', [{ contact: 'contact-7', event: 'clicked', node: 'hello', after: 'PT2H' }]);
    const r = dripline(['simulate', planFile, '-n', '10', '--start', START, '--until', 'P7D', '--events', events], tmp.dir);
    expect(r.code).toBe(0);
    // Three timelines (the default): the contact the events file names, then contact-1, contact-2.
    const shown = [...r.stdout.matchAll(/^(contact-\d+) · /gm)].map((m) => m[1]);
    expect(shown).toEqual(['contact-1', 'contact-2', 'contact-7']);
    const story = r.stdout.slice(r.stdout.indexOf('contact-7 · '), r.stdout.indexOf('Summary:'));
    expect(story).toMatch(/hello\s+clicked → thanks/);
    expect(story).toMatch(/ended: completed/);
    expect(r.stdout).toMatch(/Summary: 10 contacts/);
    expect(r.stdout).toMatch(/hello → nudge\s+9/);
    expect(r.stderr).toBe(''); // no progress bar when stderr is not a terminal
  });

  it('gives contacts the --zones in turn, and quiet hours follow each contact\'s zone', () => {
    const zones = ['America/Los_Angeles', 'Asia/Tokyo', 'Europe/Berlin'];
    const out = simulateJson(['-n', '6', '--zones', zones.join(','), '--show', 'all']);
    for (let i = 1; i <= 6; i++) expect(out.timelines[`contact-${i}`]!.timezone).toBe(zones[(i - 1) % zones.length]);
    // 16:00Z is 08:00 in Los Angeles, 01:00 in Tokyo (quiet until 08:00), 17:00 in Berlin.
    const sentAt = (id: string) => out.timelines[id]!.entries.find((e) => e.kind === 'sent')!.at;
    expect(sentAt('contact-1')).toBe(Date.parse(START));
    expect(sentAt('contact-3')).toBe(Date.parse(START));
    expect(sentAt('contact-2')).toBe(Date.parse('2026-03-02T23:00:00Z')); // 08:00 in Tokyo
    // The emails of contact-2 and contact-5 (Tokyo) wait for 08:00; their SMS, two days after, is at 08:00 already.
    expect(out.summary.movedByQuietHours).toBe(2);
    const nudgeAt = out.timelines['contact-2']!.entries.find((e) => e.kind === 'sent' && e.nodeId === 'nudge')!.at;
    expect(nudgeAt - sentAt('contact-2')).toBe(2 * 86_400_000);
  });

  it('draws --respond reactions from the seed: same seed same run, another seed another run', () => {
    const args = ['-n', '400', '--respond', 'hello:clicked=0.3@PT2H'];
    const a = simulateJson([...args, '--seed', '7']);
    const b = simulateJson([...args, '--seed', '7']);
    const c = simulateJson([...args, '--seed', '8']);
    expect(a.summary).toEqual(b.summary);
    const clicked = a.summary.transitions['hello → thanks']!;
    expect(clicked).toBeGreaterThan(400 * 0.3 - 50);
    expect(clicked).toBeLessThan(400 * 0.3 + 50);
    expect(a.summary.transitions['hello → nudge']).toBe(400 - clicked);
    expect(c.summary.transitions['hello → thanks']).not.toBe(clicked);
  });

  it('gives the same summary however the contacts are chunked', () => {
    const args = ['-n', '250', '--zones', 'UTC,Asia/Kolkata', '--respond', 'hello:clicked=0.4@PT30M,nudge:opened=0.5'];
    const one = simulateJson([...args, '--chunk-size', '1000']);
    const many = simulateJson([...args, '--chunk-size', '17']);
    expect(many.summary).toEqual(one.summary);
    expect(one.summary.contacts).toBe(250);
  });

  it('shows progress on stderr with --progress over 20,000 contacts, with a correct summary on stdout', () => {
    const n = 20_000;
    const clickers = [5, 777, 19_999].map((i) => `contact-${i}`);
    const events = tmp.write('events-20k.json', [
      ...clickers.map((contact) => ({ contact, event: 'clicked', node: 'hello', after: 'PT1H' })),
      { contact: 'contact-20000', event: 'unsubscribed', at: '2026-03-02T16:30:00Z' },
    ]);
    const r = dripline(['simulate', planFile, '-n', String(n), '--start', START, '--until', 'P7D', '--events', events, '--progress', '--json'], tmp.dir, 180_000);
    expect(r.code, r.stderr).toBe(0);
    // Progress lines on stderr, ending at every contact; stdout is pure JSON.
    const progress = r.stderr.split('\n').filter((l) => l.startsWith('simulating'));
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(progress.at(-1)).toContain(`${n}/${n} contacts`);
    expect(progress.at(-1)).toContain('100%');
    const out = JSON.parse(r.stdout) as SimJson;
    expect(out.summary.contacts).toBe(n);
    expect(out.summary.sentByNode.hello).toBe(n);
    expect(out.summary.transitions['hello → thanks']).toBe(clickers.length);
    expect(out.summary.sentByNode.nudge).toBe(n - clickers.length - 1);
    expect(out.summary.byStatus).toEqual({ completed: n - 1, exited: 1 });
    expect(out.summary.events).toEqual({ clicked: clickers.length, unsubscribed: 1 });
  }, 200_000);

  describe('events file errors name the file and the path of each bad entry (exit 2)', () => {
    const cases: Array<[string, unknown, RegExp[]]> = [
      ['not an array', { contact: 'contact-1' }, [/must hold a JSON array/]],
      [
        'bad entries',
        [
          { contact: 'contact-1', event: 'clicked', after: 'PT1H' },
          { contact: 'contact-99', event: 'clicked', after: 'PT1H' },
          { contact: 'contact-2', event: 'clicked', after: '3 hours' },
          { contact: 'contact-2', event: 'no_click', at: '2026-03-02T18:00:00Z' },
          { contact: 'contact-2', event: 'opened' },
          { contact: 'contact-2', event: 'opened', after: 'PT1H', node: 'thanks' },
          { contact: 'contact-2', event: 'opened', at: '2026-03-02 18:00' },
          { contact: 'contact-2', event: 'opened', after: 'PT1H', when: 'soon' },
          'clicked',
        ],
        [
          /events-bad\.json: 8 bad entries/,
          /\[1\]\.contact: "contact-99" is not one of the 10 simulated contacts/,
          /\[2\]\.after: "3 hours" is not an ISO-8601 duration/,
          /\[3\]\.event: "no_click" is a timeout name/,
          /\[4\]: needs "at" .* or "after"/,
          /\[5\]\.node: "thanks" is not a send node/,
          /\[6\]\.at: "2026-03-02 18:00" is not an ISO-8601 instant/,
          /\[7\]\.when: unknown property "when"/,
          /\[8\]: must be an object/,
        ],
      ],
    ];
    it.each(cases)('%s', (_name, content, patterns) => {
      const file = tmp.write(_name === 'bad entries' ? 'events-bad.json' : 'events-obj.json', content);
      const r = dripline(['simulate', planFile, '-n', '10', '--start', START, '--events', file], tmp.dir);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      for (const p of patterns) expect(r.stderr).toMatch(p);
      // The good entry [0] is not reported.
      expect(r.stderr).not.toMatch(/\[0\]/);
    });

    it('a missing or non-JSON events file is an I/O error naming it', () => {
      const missing = dripline(['simulate', planFile, '-n', '2', '--events', 'nope.json'], tmp.dir);
      expect(missing.code).toBe(2);
      expect(missing.stderr).toContain('nope.json: no such file');
      const bad = tmp.write('events-syntax.json', '[\n  { "contact": "contact-1" }\n  { "contact": "contact-2" }\n]');
      const r = dripline(['simulate', planFile, '-n', '2', '--events', bad], tmp.dir);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/events-syntax\.json:3:3: not valid JSON/);
    });
  });

  it('rejects bad options with exit 2 and says which', () => {
    const cases: Array<[string[], RegExp]> = [
      [['-n', 'ten'], /--contacts must be a whole number/],
      [['-n', '5', '--start', 'tomorrow'], /--start: "tomorrow" is not an ISO-8601 instant/],
      [['-n', '5', '--start', START, '--until', '2026-03-01T00:00:00Z'], /--until: .* is not after --start/],
      [['-n', '5', '--zones', 'Europe/Berlin,Mars/Olympus'], /--zones: "Mars\/Olympus" is not an IANA time zone/],
      [['-n', '5', '--respond', 'clicked=1.5'], /--respond: "clicked=1.5" has a share outside 0..1/],
      [['-n', '5', '--respond', 'thanks:clicked=0.5'], /not a send node/],
      [['-n', '5', '--contact', 'contact-9'], /--contact: "contact-9" not among the 5 simulated contacts/],
    ];
    for (const [args, pattern] of cases) {
      const r = dripline(['simulate', planFile, ...args], tmp.dir);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(pattern);
    }
    expect(dripline(['simulate', planFile], tmp.dir).stderr).toContain("required option '-n, --contacts <n>' not specified");
  });

  it('refuses an invalid plan with its issues and exit 1', () => {
    const bad = tmp.write('bad-plan.json', trialPlan({ startNodeId: 'nowhere' }));
    const r = dripline(['simulate', bad, '-n', '3'], tmp.dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('unknown_start_node  startNodeId = "nowhere"');
  });
});
