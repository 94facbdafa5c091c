// The demo's data: the plan, five contacts in five time zones, and the engagement events their
// email client and phone will report (what your webhook handlers would receive). Both
// main.mjs (the loop) and workflow-style.mjs (one workflow per contact) run this scenario.
import { readFileSync } from 'node:fs';

/** The plan JSON (validated and compiled by the runner). */
export const PLAN = JSON.parse(readFileSync(new URL('../onboarding.plan.json', import.meta.url), 'utf8'));

/** The campaign starts on Monday 2 March 2026, 16:00 UTC, and the demo runs ten days. */
export const START = Date.parse('2026-03-02T16:00:00Z');
export const UNTIL = Date.parse('2026-03-12T16:00:00Z');

const contact = (n, id, name, timezone) => ({
  id,
  timezone,
  attributes: { name, link: `https://app.example.test/setup?c=${id}` },
  address: { email: `${id}@example.test`, phone: `+1555010000${n}` },
});

/** Who is enrolled. Each contact's own zone decides local times and quiet hours. */
export const CONTACTS = [
  contact(1, 'ana', 'Ana', 'Europe/Berlin'), // opens, then clicks: the clicked branch
  contact(2, 'ben', 'Ben', 'America/New_York'), // opens, never clicks: the no_click timeout, an SMS at 10:00
  contact(3, 'chloe', 'Chloé', 'Asia/Tokyo'), // 01:00 at the start: quiet hours; never opens
  contact(4, 'dev', 'Dev', 'America/Los_Angeles'), // the click is reported before the open
  contact(5, 'eve', 'Eve', 'Europe/London'), // unsubscribes
];

/**
 * What the providers report: `at` is when it happened, `receivedAt` (default `at`) when your
 * webhook got it. Events carry the provider's event id; a redelivered webhook has the same id.
 */
export const EVENTS = [
  { id: 'sg-ana-open-1', contactId: 'ana', type: 'opened', at: '2026-03-02T17:00:00Z' },
  // The same webhook delivered again five minutes later (the provider retried): a duplicate.
  { id: 'sg-ana-open-1', contactId: 'ana', type: 'opened', at: '2026-03-02T17:00:00Z', receivedAt: '2026-03-02T17:05:00Z' },
  { id: 'sg-ana-click-1', contactId: 'ana', type: 'clicked', at: '2026-03-03T08:00:00Z' },
  { id: 'sg-ben-open-1', contactId: 'ben', type: 'opened', at: '2026-03-02T18:00:00Z' },
  // Dev's mail client blocked the tracking pixel: the click is reported before the open.
  { id: 'sg-dev-click-1', contactId: 'dev', type: 'clicked', at: '2026-03-02T16:20:00Z' },
  { id: 'sg-dev-open-1', contactId: 'dev', type: 'opened', at: '2026-03-02T16:25:00Z' },
  { id: 'sg-eve-unsub-1', contactId: 'eve', type: 'unsubscribed', at: '2026-03-02T20:00:00Z' },
  // Eve's client still loads the pixel after she left: recorded nowhere, moves nothing.
  { id: 'sg-eve-open-1', contactId: 'eve', type: 'opened', at: '2026-03-02T21:00:00Z' },
].map((e) => ({ ...e, at: Date.parse(e.at), receivedAt: Date.parse(e.receivedAt ?? e.at) }));

/** `Mon 02 Mar 17:00 GMT+1`: an instant as the contact sees it. */
export function localTime(at, zone) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-GB', { timeZone: zone, weekday: 'short', day: '2-digit', month: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZoneName: 'short' })
      .formatToParts(at)
      .map((p) => [p.type, p.value]),
  );
  return `${parts.weekday} ${parts.day} ${parts.month} ${parts.hour}:${parts.minute} ${parts.timeZoneName}`;
}

/** `02 Mar 16:00Z`. */
export function utcTime(at) {
  const d = new Date(at);
  const mon = d.toLocaleString('en-GB', { month: 'short', timeZone: 'UTC' });
  return `${String(d.getUTCDate()).padStart(2, '0')} ${mon} ${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')}Z`;
}
