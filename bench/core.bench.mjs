// Core benchmarks: the state machine's `step` and `computeSendTime`, on one thread.
//
//   npx pnpm@10 bench:core        (builds @dripline/core, then runs this file)
//
// Each bench prints a human line and a machine-readable line:
//   RESULT {"bench":"core.step","value":1234567,"unit":"calls/s","target":1000000,"pass":true}
// Inputs are deterministic (derived from hashes, never Math.random).
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { compilePlan, computeSendTime, hash32, hashToUnit, start, step } from '@dripline/core';

const TARGET = 1_000_000; // calls per second, for each bench
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const T0 = Date.parse('2026-03-02T16:00:00Z');

const ZONES = [
  'America/Los_Angeles', 'America/Denver', 'America/Chicago', 'America/New_York', 'America/Sao_Paulo',
  'America/Mexico_City', 'Europe/London', 'Europe/Berlin', 'Europe/Madrid', 'Europe/Istanbul',
  'Africa/Lagos', 'Africa/Johannesburg', 'Asia/Dubai', 'Asia/Kolkata', 'Asia/Singapore',
  'Asia/Tokyo', 'Australia/Sydney', 'Pacific/Auckland', 'Asia/Kathmandu', 'America/St_Johns',
];

const fmt = (n) => Math.round(n).toLocaleString('en-US');

function report(bench, value, unit, detail) {
  const pass = value >= TARGET;
  console.log(`${bench.padEnd(22)} ${fmt(value).padStart(12)} ${unit}  (target ≥ ${fmt(TARGET)} ${unit}: ${pass ? 'PASS' : 'MISS'})  ${detail}`);
  console.log(`RESULT ${JSON.stringify({ bench, value: Math.round(value), unit, target: TARGET, pass })}`);
}

/** Runs `body(n)` (which must do n calls and return a checksum) and returns calls/s. */
function time(n, body) {
  const t = process.hrtime.bigint();
  const sink = body(n);
  const ns = Number(process.hrtime.bigint() - t);
  if (sink === -1) console.log('(unreachable)'); // keep the result alive
  return { perSecond: (n * 1e9) / ns, ms: ns / 1e6 };
}

console.log(`dripline core bench — node ${process.version}, ${os.cpus()[0]?.model ?? 'cpu'} ×${os.availableParallelism()} (measured on one JS thread)`);
console.log(`targets: core.step ≥ ${fmt(TARGET)} calls/s, core.computeSendTime ≥ ${fmt(TARGET)} calls/s`);

// ---------------------------------------------------------------- 1. step
// A trace of realistic inputs is recorded first (untimed) by driving N enrollments of the
// onboarding plan through their whole life: send timers, `sent` outcomes, opens and clicks
// (some clicks before the open, replayed on entering wait_click), no_open / no_click timeouts,
// duplicate webhook deliveries and stale timers. `step` is pure and never mutates its input,
// so the timed loop replays that trace: it times `step` calls and nothing else.
{
  const plan = compilePlan(JSON.parse(readFileSync(new URL('../examples/quickstart/onboarding.plan.json', import.meta.url), 'utf8')));
  const N = 20_000;
  const trace = []; // { e, input, ctx }
  const notes = {};
  for (let i = 0; i < N; i++) {
    const contact = { id: `c${i}`, timezone: ZONES[hash32(`zone:${i}`) % ZONES.length], attributes: { name: 'Ana' } };
    const started = start(plan, { now: T0, contact, campaignId: 'bench' });
    let e = started.enrollment;
    let now = T0;
    const runAt = new Map();
    let lastEventId = null;
    let dupVisit = -1;
    const apply = (input, at) => {
      now = Math.max(now, at);
      const ctx = { now, contact };
      trace.push({ e, input, ctx });
      const r = step(plan, e, input, ctx);
      if (r.note) notes[r.note] = (notes[r.note] ?? 0) + 1;
      for (const fx of r.effects) if (fx.type === 'schedule') runAt.set(fx.action.key, fx.action.runAt);
      e = r.enrollment;
    };
    for (const fx of started.effects) if (fx.type === 'schedule') runAt.set(fx.action.key, fx.action.runAt);
    for (let guard = 0; e.status === 'active' && guard < 40; guard++) {
      const u = (salt) => hashToUnit(`${e.id}:${e.visit}:${salt}`);
      if (e.sendState === 'scheduled') {
        apply({ type: 'timer', key: e.sendKey }, runAt.get(e.sendKey));
        continue;
      }
      if (e.sendState === 'sending') {
        apply({ type: 'sent', key: e.sendKey, at: now + 200, providerMessageId: `p-${e.sendKey}` }, now + 200);
        continue;
      }
      // Waiting on a sent email or on wait_click: an event or the node's timeout.
      if (u('dup') < 0.03 && lastEventId && dupVisit !== e.visit) {
        dupVisit = e.visit;
        apply({ type: 'event', event: { id: lastEventId, type: 'opened', at: now } }, now); // webhook delivered twice
        continue;
      }
      const timeoutKey = e.pending[0];
      const eventType = e.nodeId === 'wait_click' ? 'clicked' : 'opened';
      const engages = u('engage') < (e.nodeId === 'email_intro' ? 0.6 : e.nodeId === 'wait_click' ? 0.45 : 0.3);
      if (engages || !timeoutKey) {
        const at = now + 10 * MINUTE + Math.floor(u('delay') * 5 * HOUR);
        if (eventType === 'opened' && u('early') < 0.1) {
          apply({ type: 'event', event: { id: `${e.id}:${e.visit}:early-click`, type: 'clicked', at: at - 5 * MINUTE, messageKey: e.sendKey } }, at - 5 * MINUTE);
        }
        lastEventId = `${e.id}:${e.visit}:${eventType}`;
        const before = e;
        apply({ type: 'event', event: { id: lastEventId, type: eventType, at, messageKey: e.sendKey ?? undefined } }, at);
        // Sometimes the queue did not get the cancel: the old timeout still fires, stale.
        if (timeoutKey && before.nodeId !== e.nodeId && u('stale') < 0.2) apply({ type: 'timer', key: timeoutKey }, runAt.get(timeoutKey));
      } else {
        apply({ type: 'timer', key: timeoutKey }, runAt.get(timeoutKey));
      }
    }
  }
  const counts = {};
  for (const t of trace) counts[t.input.type] = (counts[t.input.type] ?? 0) + 1;

  const L = trace.length;
  const run = (n) => {
    let sink = 0;
    for (let k = 0, j = 0; k < n; k++) {
      const t = trace[j];
      sink += step(plan, t.e, t.input, t.ctx).effects.length;
      if (++j === L) j = 0;
    }
    return sink;
  };
  run(Math.max(300_000, L)); // warm-up
  const calls = Math.max(1_000_000, L * Math.ceil(1_000_000 / L) * 2);
  const { perSecond, ms } = time(calls, run);
  const mix = Object.entries(counts).map(([k, v]) => `${k} ${((100 * v) / L).toFixed(0)}%`).join(', ');
  report('core.step', perSecond, 'calls/s', `${fmt(calls)} calls in ${ms.toFixed(0)} ms over a trace of ${fmt(L)} inputs from ${fmt(N)} enrollments (${mix})`);
}

// ---------------------------------------------------------------- 2. computeSendTime
// 1,000,000 contacts in 20 IANA zones; delays PT0S / PT1H / P1D; half with at "10:00";
// quiet hours 21:00–07:30; `from` instants spread over a week (so DST changes are crossed
// in the zones that change in that week).
{
  const M = 1_000_000;
  const DELAYS = ['PT0S', 'PT1H', 'P1D'];
  const quietHours = { start: '21:00', end: '07:30' };
  const WEEK_START = Date.parse('2026-03-05T00:00:00Z'); // the week of the US DST change (2026-03-08)
  const from = new Float64Array(M);
  const zone = new Array(M);
  const delay = new Array(M);
  const withAt = new Uint8Array(M);
  for (let i = 0; i < M; i++) {
    const h = hash32(`contact:${i}`);
    zone[i] = ZONES[h % ZONES.length];
    delay[i] = DELAYS[(h >>> 8) % DELAYS.length];
    withAt[i] = (h >>> 16) & 1;
    from[i] = WEEK_START + (hash32(`from:${i}`) % (7 * DAY / MINUTE)) * MINUTE;
  }
  const run = (n) => {
    let sink = 0;
    for (let i = 0; i < n; i++) {
      const t = withAt[i]
        ? computeSendTime({ from: from[i], delay: delay[i], at: '10:00', zone: zone[i], quietHours })
        : computeSendTime({ from: from[i], delay: delay[i], zone: zone[i], quietHours });
      sink += t - from[i];
    }
    return sink;
  };
  run(200_000); // warm-up
  const { perSecond, ms } = time(M, run);
  report('core.computeSendTime', perSecond, 'calls/s', `${fmt(M)} contacts in ${ZONES.length} zones in ${ms.toFixed(0)} ms`);
}
