// dripline's state machine embedded in your own loop: five contacts go through the
// onboarding plan for ten (simulated) days. No engine, no dripline store: the enrollments,
// timers and send ledger are one JSON object this script owns (see loop.mjs).
//
//   node src/main.mjs                      run the whole scenario and print what happened
//   node src/main.mjs --state state.json   keep the state in a file: a second run carries on
//   node src/main.mjs --until 2026-03-04T00:00:00Z --state state.json   stop early (a cron run)
//   node src/main.mjs --json               print the final state as JSON instead
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { compilePlan } from '@dripline/core';
import { runLoop } from './loop.mjs';
import { CONTACTS, EVENTS, PLAN, START, UNTIL, localTime, utcTime } from './scenario.mjs';

const { values: args } = parseArgs({
  options: {
    state: { type: 'string' },
    until: { type: 'string' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (args.help) {
  console.log('usage: node src/main.mjs [--state file.json] [--until ISO-instant] [--json]');
  process.exit(0);
}
const until = args.until === undefined ? UNTIL : Date.parse(args.until);
if (Number.isNaN(until)) {
  console.error(`--until must be an ISO-8601 instant, got "${args.until}"`);
  process.exit(2);
}

const plan = compilePlan(PLAN); // validates; once per plan version, never per contact
const state = args.state && existsSync(args.state) ? JSON.parse(readFileSync(args.state, 'utf8')) : undefined;
const zoneOf = (contactId) => CONTACTS.find((c) => c.id === contactId)?.timezone ?? plan.timezone;
const when = (at, contactId) => `${localTime(at, zoneOf(contactId)).padEnd(22)} ${utcTime(at)}`;
const print = (line) => args.json || console.log(line);

print(`dripline embedded machine — plan "${plan.plan.name}", ${CONTACTS.length} contacts, driven by this script's own loop`);
print(state ? `resuming from ${args.state} at ${new Date(state.clock).toISOString()}` : `campaign starts ${new Date(START).toISOString()}`);
print(`running until ${new Date(until).toISOString()}\n`);
print('Sends (what the loop hands to the email / SMS provider)');

// The effect "send" is yours to perform: here it prints; in production it calls your provider
// with the action key as idempotency key, and returns the provider's message id.
let sends = 0;
async function send(message) {
  print(`  ${when(message.at, message.contactId)}  ${message.contactId.padEnd(6)}${message.channel.padEnd(6)}${message.nodeId.padEnd(12)}→ ${message.to}  "${message.subject ?? message.body}"`);
  return { providerMessageId: `msg_${++sends}` };
}

const final = await runLoop({ plan, contacts: CONTACTS, events: EVENTS, start: START, until, send, ...(state ? { state } : {}) });
if (args.state) writeFileSync(args.state, `${JSON.stringify(final, null, 1)}\n`);

if (args.json) {
  console.log(JSON.stringify(final));
  process.exit(0);
}

/** One timeline entry as a sentence. */
function describe(e) {
  switch (e.type) {
    case 'enrolled':
      return null; // the start transition says it
    case 'transition': {
      const c = e.cause;
      const why = c.kind === 'start' ? 'start' : c.kind === 'event' ? `${c.on}${c.replayed ? ' (replayed: it arrived before this node was entered)' : ''}` : c.kind === 'timer' ? `${c.on} timeout` : c.kind === 'failed' ? 'send failed' : c.kind;
      return `${e.from ?? '(start)'} → ${e.to}   [${why}]`;
    }
    case 'scheduled':
      if (e.runAt === e.at) return null; // sent at once: the "sent" line says it
      return `${e.nodeId} send scheduled for ${localTime(e.runAt, zoneOf(e.contactId))}${e.requestedAt === undefined ? '' : ` (moved by quiet hours from ${localTime(e.requestedAt, zoneOf(e.contactId)).split(' ')[3]})`}`;
    case 'sent':
      return `sent ${e.nodeId} (${e.channel})`;
    case 'send-skipped':
      return `${e.nodeId} was already sent at ${utcTime(e.sentAt)} (found in the ledger): not sent again`;
    case 'send-failed':
      return `send of ${e.nodeId} failed: ${e.reason}`;
    case 'timer':
      return e.note ? `timer ${e.key} fired (${e.note}): nothing to do` : null; // the transition says it
    case 'event': {
      const notes = {
        'duplicate-event': 'duplicate (same provider event id): ignored',
        'event-recorded': 'recorded; nothing moves yet (kept for replay)',
        'late-event': 'too late for its window: recorded, moves nothing',
        'already-ended': 'enrollment already ended: ignored',
        'unknown-contact': 'no such enrollment',
      };
      return `${e.event} received${e.note ? `: ${notes[e.note] ?? e.note}` : ''}`;
    }
    case 'ended':
      return `${e.status}: ${e.reason}`;
    default:
      return e.type;
  }
}

print('\nTimeline (local time, UTC)');
for (const c of CONTACTS) {
  print(`${c.id} · ${c.attributes.name} · ${c.timezone}`);
  for (const e of final.timeline.filter((x) => x.contactId === c.id)) {
    const line = describe(e);
    if (line) print(`  ${when(e.at, c.id)}  ${line}`);
  }
}

print('\nFinal states');
for (const c of CONTACTS) {
  const e = final.enrollments[c.id];
  print(`  ${c.id.padEnd(6)} ${e.status.padEnd(10)} at ${e.nodeId.padEnd(12)} ${String(e.sends)} sent  ${e.endReason ?? `waiting (next wake-up ${nextWake(c.id)})`}`);
}
function nextWake(contactId) {
  const next = Object.values(final.timers).filter((t) => t.enrollmentId === contactId).sort((a, b) => a.runAt - b.runAt)[0];
  return next ? `${next.kind} at ${utcTime(next.runAt)}` : 'none';
}
const keys = Object.keys(final.sent);
print(`\n${keys.length} messages sent, ${new Set(keys).size} distinct keys; pending timers: ${Object.keys(final.timers).length}; state: ${JSON.stringify(final).length} bytes of JSON${args.state ? ` in ${args.state}` : ''}`);
