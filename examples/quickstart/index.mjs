// dripline quickstart: a dry run of the onboarding plan for 1,000 contacts in six time zones.
//
// Everything is deterministic: contacts and their reactions are derived from a hash of an
// index or of a message key, never from Math.random, so every run prints the same output.
import { readFileSync } from 'node:fs';
import { DateTime } from 'luxon';
import { simulate, hash32, hashToUnit } from '@dripline/core';

const plan = JSON.parse(readFileSync(new URL('./onboarding.plan.json', import.meta.url), 'utf8'));

const START = '2026-03-02T16:00:00Z';
const UNTIL = 'P14D';
const CONTACTS = 1000;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

// ---------------------------------------------------------------- audience
// [zone, phone country code]
const ZONES = [
  ['America/Los_Angeles', '+1'],
  ['America/New_York', '+1'],
  ['Europe/Berlin', '+49'],
  ['Asia/Kolkata', '+91'],
  ['Australia/Sydney', '+61'],
  ['America/Sao_Paulo', '+55'],
];
const FIRST = ['Ana', 'Ben', 'Chloé', 'Dev', 'Emma', 'Felipe', 'Grace', 'Hiro', 'Isla', 'Jonas', 'Kavya', 'Liam', 'Mia', 'Noah', 'Olga', 'Priya'];
const LAST = ['Silva', 'Müller', 'Sharma', 'Smith', 'Nguyen', 'Garcia', 'Tanaka', 'Brown', 'Costa', 'Khan', 'Wilson', 'Rossi'];

function contactFor(i) {
  const h = hash32(`contact:${i}`);
  const [timezone, cc] = ZONES[h % ZONES.length];
  const first = FIRST[(h >>> 8) % FIRST.length];
  const last = LAST[(h >>> 16) % LAST.length];
  const digits = String(hash32(`phone:${i}`) % 1_000_000_000).padStart(9, '0');
  const id = `contact-${String(i + 1).padStart(4, '0')}`;
  return {
    id,
    timezone,
    attributes: { name: first, link: `https://app.example.test/start?c=${id}` },
    address: {
      email: `${first}.${last}.${i + 1}@example.test`.toLowerCase().normalize('NFD').replace(/[\u0300-\u036f]/g, ''),
      phone: `${cc}${digits}`,
    },
  };
}
const contacts = Array.from({ length: CONTACTS }, (_, i) => contactFor(i));
const contactById = new Map(contacts.map((c) => [c.id, c]));

// ---------------------------------------------------------------- recipients' behaviour
/** A number in [0, 1) derived from the message key and a salt. */
const u = (key, salt) => hashToUnit(`${key}|${salt}`);

function respond(m) {
  if (m.nodeId === 'email_intro') {
    if (u(m.key, 'open') >= 0.6) return []; // 40% never open the intro
    const openAfter = 10 * MINUTE + Math.floor(u(m.key, 'open-delay') * 5 * HOUR); // within ~5 h
    const c = u(m.key, 'click');
    if (c < 0.08) {
      // The mail client blocked the tracking pixel: the click is reported before the open.
      // The contact is still on email_intro, so the click is only recorded; entering
      // wait_click on the open replays it.
      const clickAfter = Math.max(MINUTE, openAfter - (5 + Math.floor(u(m.key, 'early') * 40)) * MINUTE);
      return [
        { type: 'clicked', after: clickAfter },
        { type: 'opened', after: openAfter },
      ];
    }
    if (c < 0.45) {
      return [
        { type: 'opened', after: openAfter },
        { type: 'clicked', after: openAfter + 5 * MINUTE + Math.floor(u(m.key, 'click-delay') * 30 * HOUR) },
      ];
    }
    return [{ type: 'opened', after: openAfter }]; // opens, never clicks: SMS nudge after 2 days
  }
  if (m.nodeId === 'email_bump_1') {
    const o = u(m.key, 'open');
    const after = 30 * MINUTE + Math.floor(u(m.key, 'open-delay') * 8 * HOUR);
    if (o < 0.3) {
      return u(m.key, 'click') < 0.4
        ? [
            { type: 'opened', after },
            { type: 'clicked', after: after + 20 * MINUTE },
          ]
        : [{ type: 'opened', after }];
    }
    if (o < 0.34) return [{ type: 'unsubscribed', after }];
  }
  return [];
}

// ---------------------------------------------------------------- run
const progressOut = process.stderr;
const t0 = performance.now();
let lastProgressLine = 0;
const { timeline, summary } = await simulate(plan, {
  contacts,
  start: START,
  until: UNTIL,
  respond,
  progressEvery: 1000,
  onProgress({ now, steps, sent }) {
    const line = `  simulating… ${DateTime.fromMillis(now, { zone: 'utc' }).toFormat("dd LLL HH:mm'Z'")}  ${steps} steps  ${sent} messages sent`;
    if (progressOut.isTTY) progressOut.write(`\r${line}\x1b[K`);
    else if (steps - lastProgressLine >= 2000 || steps % 1000 !== 0) {
      lastProgressLine = steps;
      progressOut.write(`${line}\n`);
    }
  },
});
if (progressOut.isTTY) progressOut.write('\n');
const elapsed = ((performance.now() - t0) / 1000).toFixed(2);

// ---------------------------------------------------------------- timeline excerpt
const byContact = new Map();
for (const e of timeline) {
  let list = byContact.get(e.contactId);
  if (!list) byContact.set(e.contactId, (list = []));
  list.push(e);
}

const has = (entries, pred) => entries.some(pred);
const isReplayed = (e) => e.kind === 'transition' && e.record.cause.replayed;
const isMoved = (e) => e.kind === 'scheduled' && e.requestedAt !== undefined;
const reached = (node) => (e) => e.kind === 'transition' && e.record.to === node;
const stories = [
  { why: 'clicked before opening: the click is replayed', pred: (es) => has(es, isReplayed) },
  { why: 'moved by quiet hours, opened, never clicked', pred: (es) => has(es, isMoved) && has(es, reached('sms_nudge')) },
  { why: 'never opened the intro: the bump email', pred: (es) => has(es, reached('email_bump_1')) && has(es, (e) => e.kind === 'event') },
];
const chosen = [];
for (const story of stories) {
  const usedZones = new Set(chosen.map((c) => c.contact.timezone));
  const pick = (zoneFree) =>
    contacts.find((c) => !chosen.some((x) => x.contact === c) && (!zoneFree || !usedZones.has(c.timezone)) && story.pred(byContact.get(c.id) ?? []));
  const contact = pick(true) ?? pick(false);
  if (contact) chosen.push({ contact, why: story.why });
}

const local = (ms, zone) => DateTime.fromMillis(ms, { zone }).toFormat('ccc dd LLL HH:mm ZZZZ');
const hhmm = (ms, zone) => DateTime.fromMillis(ms, { zone }).toFormat('HH:mm');
const utc = (ms) => DateTime.fromMillis(ms, { zone: 'utc' }).toFormat("dd LLL HH:mm'Z'");

function describe(list, zone) {
  const entries = list;
  const lines = [];
  let node = '(start)';
  const eventsById = new Map(entries.filter((e) => e.kind === 'event').map((e) => [e.event.id, e.event]));
  const line = (at, where, what) => lines.push(`  ${local(at, zone).padEnd(26)} ${utc(at)}  ${where.padEnd(13)} ${what}`);
  for (const e of entries) {
    switch (e.kind) {
      case 'transition': {
        const c = e.record.cause;
        const to = e.record.to;
        if (c.kind === 'start') line(e.at, node, `enrolled → ${to}`);
        else if (c.kind === 'event' && c.replayed) {
          const early = c.eventId ? eventsById.get(c.eventId) : undefined;
          line(e.at, node, `${c.on} replayed (it arrived early${early ? `, at ${hhmm(early.at, zone)}` : ''}) → ${to}`);
        } else if (c.kind === 'event') line(e.at, node, `${c.on} → ${to}`);
        else if (c.kind === 'timer') line(e.at, node, `${c.on} timeout → ${to}`);
        else line(e.at, node, `${c.kind}${c.on ? ` ${c.on}` : ''} → ${to}`);
        node = to;
        break;
      }
      case 'scheduled':
        if (e.requestedAt !== undefined)
          line(e.at, e.nodeId, `send moved by quiet hours from ${hhmm(e.requestedAt, zone)} to ${hhmm(e.runAt, zone)} local`);
        else if (e.runAt > e.at) line(e.at, e.nodeId, `send scheduled for ${local(e.runAt, zone)}`);
        break;
      case 'sent':
        line(e.at, e.nodeId, `sent ${e.nodeId} (${e.channel})`);
        break;
      case 'send-failed':
        line(e.at, e.nodeId, `send failed (${e.errorKind}): ${e.reason}`);
        break;
      case 'deferred':
        line(e.at, node, `send deferred to ${hhmm(e.until, zone)} local: ${e.reason}`);
        break;
      case 'event':
        if (e.note === 'event-recorded') line(e.at, node, `${e.event.type} arrived early: recorded, nothing moves yet`);
        else if (e.note === 'late-event') line(e.at, node, `${e.event.type} too late for its window: recorded only`);
        else if (e.note === 'already-ended') line(e.at, node, `${e.event.type} after the end: ignored`);
        break;
      case 'ended':
        line(e.at, node, `${e.status} (${e.reason})`);
        break;
    }
  }
  return lines;
}

const out = [];
out.push(`dripline quickstart — plan "${plan.name}", ${CONTACTS} contacts in ${ZONES.length} time zones, ${START} + ${UNTIL}`);
out.push(`quiet hours ${plan.quietHours.start}–${plan.quietHours.end} local · simulated in ${elapsed} s`);
out.push('');
out.push('Timeline excerpt (local time in the contact\'s zone, then UTC)');
for (const { contact, why } of chosen) {
  out.push(`${contact.id} · ${contact.attributes.name} · ${contact.timezone} — ${why}`);
  out.push(...describe(byContact.get(contact.id), contact.timezone));
}

// ---------------------------------------------------------------- summary
const table = (title, record, order) => {
  out.push(title);
  const keys = Object.keys(record).sort(order ?? ((a, b) => record[b] - record[a] || a.localeCompare(b)));
  const width = Math.max(...keys.map((k) => k.length));
  for (const k of keys) out.push(`  ${k.padEnd(width)}  ${String(record[k]).padStart(5)}`);
};
const nodeOrder = plan.nodes.map((n) => n.id);
out.push('');
out.push(`Summary (${summary.contacts} contacts, ${utc(summary.startedAt)} → ${utc(summary.endedAt)})`);
table('sent per node', summary.sentByNode, (a, b) => nodeOrder.indexOf(a) - nodeOrder.indexOf(b));
table('transitions (from → to)', summary.transitions);
table('enrollments by status', summary.byStatus);
table('events by type', summary.events);
out.push(`sends moved by quiet hours  ${String(summary.movedByQuietHours).padStart(5)}`);
out.push(`replayed early events       ${String(summary.replayed).padStart(5)}`);
if (summary.failedSends) out.push(`failed sends                ${String(summary.failedSends).padStart(5)}`);

console.log(out.join('\n'));
