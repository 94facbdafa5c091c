/**
 * Properties of whole runs, with a virtual clock, across time zones and DST edges: no SMS is
 * ever sent inside the plan's quiet hours or a compliance preset's quiet window, and no
 * recipient gets more messages in any 24 h than the cap allows — whatever rate limits, retries
 * and deferrals did to the schedule.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { COMPLIANCE_PRESETS, applyQuietHours, hash32, isQuiet, type AudienceContact, type PlanInput } from '../src/index.js';
import { harness } from './engine-harness.js';

const H = 3_600_000;
const ZONES = ['America/Los_Angeles', 'America/New_York', 'Europe/Berlin', 'Europe/London', 'Australia/Lord_Howe', 'Asia/Kathmandu', 'America/Sao_Paulo', 'Pacific/Chatham', 'UTC'];
/** Starts near DST changes of 2026 (US, EU, Lord Howe), so sends cross them. */
const EDGES = ['2026-03-08T10:00:00Z', '2026-03-29T01:00:00Z', '2026-10-04T15:00:00Z', '2026-10-25T01:00:00Z', '2026-11-01T09:00:00Z', '2026-04-05T15:00:00Z'].map(Date.parse);
const hhmm = (m: number) => `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;

function plan(quiet: { start: string; end: string }, gapHours: number, at: string | undefined): PlanInput {
  return {
    version: '1.0',
    name: 'Property',
    timezone: 'UTC',
    quietHours: quiet,
    startNodeId: 'first',
    nodes: [
      { id: 'first', action: 'send', channel: 'sms', body: 'one', transitions: [{ on: 'no_reply', to: 'second', after: `PT${gapHours}H` }] },
      { id: 'second', action: 'send', channel: 'sms', body: 'two', schedule: at ? { delay: 'PT0S', at } : { delay: 'PT0S' }, transitions: [] },
    ],
  };
}

describe('engine properties (virtual clock)', () => {
  it('never sends inside quiet hours or a preset window, and never exceeds the cap', async () => {
    let exercised = 0;
    let capped = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          start: fc.integer({ min: 0, max: 1439 }),
          length: fc.integer({ min: 30, max: 14 * 60 }),
          edge: fc.constantFrom(...EDGES),
          offsetHours: fc.integer({ min: -30, max: 30 }),
          gapHours: fc.integer({ min: 0, max: 40 }),
          at: fc.option(fc.integer({ min: 0, max: 1439 }), { nil: undefined }),
          preset: fc.constantFrom<string[]>([], ['us-tcpa'], ['us-fl-ok'], ['us-tcpa', 'us-fl-ok']),
          campaigns: fc.integer({ min: 1, max: 3 }),
          seed: fc.integer({ min: 0, max: 1_000_000 }),
          failEvery: fc.constantFrom(0, 3, 5),
        }),
        async (p) => {
          if (process.env.DEBUG_PROPERTY) console.log(JSON.stringify(p));
          const quiet = { start: hhmm(p.start), end: hhmm((p.start + p.length) % 1440) };
          const h = harness({
            start: p.edge + p.offsetHours * H,
            compliance: p.preset,
            rateLimits: { sender: { '*': { limit: 5, window: 1000 } } },
            // Retryable failures push sends around in time.
            fail: (m, attempt) => (p.failEvery && attempt === 1 && hash32(`${p.seed}:${m.key}`) % p.failEvery === 0 ? 'retryable' : null),
          });
          const people: AudienceContact[] = ZONES.map((zone, i) => ({ id: `p${i}`, timezone: zone, address: { phone: `+1555000${String(i).padStart(4, '0')}` } }));
          const presets = p.preset.map((n) => COMPLIANCE_PRESETS[n as keyof typeof COMPLIANCE_PRESETS]);
          const leavesTime = (() => {
            try {
              applyQuietHours(p.edge, 'UTC', [quiet, ...presets.map((x) => x.quietHours)]);
              return true;
            } catch {
              return false;
            }
          })();
          for (let c = 0; c < p.campaigns; c++) {
            const created = h.engine.createCampaign(null, h.tenant, { id: `c${c}`, plan: plan(quiet, p.gapHours, p.at === undefined ? undefined : hhmm(p.at)) });
            if (!leavesTime) {
              // Windows that leave no time to text are refused up front, never left to loop.
              await expect(created).rejects.toThrow(/leave no time at which a text may be sent/);
              return;
            }
            await created;
            await h.engine.startCampaign(null, h.tenant, `c${c}`, { audience: people });
          }
          await h.runUntil(h.clock.now() + 40 * 24 * H);

          exercised += 1;
          const zoneOf = new Map(people.map((x) => [x.address.phone!, x.timezone!]));
          const sent = h.dump().outbox.filter((m) => m.status === 'sent');
          expect(sent.length).toBe(p.campaigns * people.length * 2);
          for (const m of sent) {
            const zone = zoneOf.get(m.to)!;
            const t = m.updatedAt; // the moment the transport accepted it (virtual clock)
            expect(isQuiet(t, zone, quiet), `${m.key} sent at ${new Date(t).toISOString()} inside plan quiet hours in ${zone}`).toBe(false);
            for (const preset of presets) expect(isQuiet(t, zone, preset.quietHours), `${m.key} inside ${preset.name} in ${zone}`).toBe(false);
          }
          const cap = presets.find((x) => x.frequencyCap)?.frequencyCap;
          if (cap) {
            capped += 1;
            const byRecipient = new Map<string, number[]>();
            for (const m of sent) byRecipient.set(m.to, [...(byRecipient.get(m.to) ?? []), m.createdAt]);
            for (const [to, times] of byRecipient) {
              times.sort((a, b) => a - b);
              for (let i = cap.max; i < times.length; i++)
                expect(times[i]! - times[i - cap.max]!, `${to} got ${cap.max + 1} messages within ${cap.windowMs} ms`).toBeGreaterThanOrEqual(cap.windowMs);
            }
          }
        },
      ),
      { seed: 20261122, numRuns: 60 },
    );
    // Most runs must really send (windows that leave no time are refused early), some under a cap.
    expect(exercised).toBeGreaterThanOrEqual(30);
    expect(capped).toBeGreaterThanOrEqual(5);
  }, 240_000);
});
