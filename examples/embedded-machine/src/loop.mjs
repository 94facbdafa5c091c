// Your own loop around dripline's pure state machine: no engine, no dripline store, no queue.
//
// `start` and `step` from @dripline/core take (plan, enrollment, input, now) and return
// { enrollment, effects }; they never read the clock, never do I/O. Everything else is yours,
// and this file is all of it:
//   - the state: contacts, enrollments, pending timers and the send ledger, in one plain
//     JSON object (a file here; rows in your database in production);
//   - the timers: each `schedule` effect is a (key, runAt) you keep; each `cancel` removes keys;
//     when one is due you call `step(..., { type: 'timer', key })`;
//   - the sends: a `send` effect is a message you render and hand to your provider, then you
//     report the outcome back with `step(..., { type: 'sent' | 'sendFailed' })`;
//   - the events: your webhooks call `step(..., { type: 'event', event })`.
// It runs the same in a cron job (call `runDue(Date.now())` every minute) as in the
// simulated clock of main.mjs.
import { renderMessage, start, step } from '@dripline/core';

/** A fresh state. Plain JSON: `JSON.parse(JSON.stringify(state))` is the same state. */
export function emptyState() {
  return {
    /** Everything up to this instant (epoch ms) has been processed; null before the first run. */
    clock: null,
    /** Contact id → the contact (zone, attributes, address). */
    contacts: {},
    /** Enrollment id → the machine's enrollment (plain JSON, returned by start / step). */
    enrollments: {},
    /** Action key → { key, enrollmentId, kind, nodeId, runAt }: the machine's pending timers. */
    timers: {},
    /** Action key → what was sent. The key is the message's idempotency key: nothing is sent twice. */
    sent: {},
    /** What happened, in order: your audit log. */
    timeline: [],
  };
}

/**
 * A runner over a compiled plan (`compilePlan(json)`, once per plan version) and a state.
 * `send(message)` delivers one message (`{ key, channel, to, subject?, body, contactId, nodeId, at }`)
 * and may return `{ providerMessageId }`; if it throws, the send is reported as failed.
 */
export function createRunner({ plan, state = emptyState(), send }) {
  const log = (entry) => state.timeline.push(entry);

  /** Stores the step's enrollment and carries out its effects, in order. */
  async function apply(enrollmentId, result, now) {
    state.enrollments[enrollmentId] = result.enrollment;
    const contactId = result.enrollment.contactId;
    for (const effect of result.effects) {
      switch (effect.type) {
        case 'transition': {
          const { from, to, at, cause } = effect.record;
          log({ at, contactId, type: 'transition', from, to, cause });
          break;
        }
        case 'schedule': {
          const { key, kind, nodeId, runAt, requestedAt } = effect.action;
          state.timers[key] = { key, enrollmentId, kind, nodeId, runAt };
          if (kind === 'send') log({ at: now, contactId, type: 'scheduled', nodeId, key, runAt, ...(requestedAt === undefined ? {} : { requestedAt }) });
          break;
        }
        case 'cancel':
          for (const key of effect.keys) delete state.timers[key];
          break;
        case 'send':
          await deliver(enrollmentId, effect, now);
          break;
        case 'complete':
        case 'exit':
          log({ at: effect.at, contactId, type: 'ended', status: effect.type === 'complete' ? 'completed' : effect.status, reason: effect.reason });
          break;
      }
    }
  }

  /** Renders and sends one message, then tells the machine how it went. */
  async function deliver(enrollmentId, effect, now) {
    const contact = state.contacts[effect.contactId];
    let input;
    const already = state.sent[effect.key];
    if (already) {
      // The action key is the idempotency key, and this ledger (a unique column in your outbox
      // table) is checked first: if a run crashed after sending but before saving the
      // enrollment, the replayed timer lands here, and the machine is told what happened.
      log({ at: now, contactId: contact.id, type: 'send-skipped', nodeId: effect.nodeId, key: effect.key, sentAt: already.at });
      input = { type: 'sent', key: effect.key, at: already.at };
    } else {
      const to = effect.channel === 'email' ? contact.address?.email : contact.address?.phone;
      const rendered = renderMessage(effect, contact.attributes ?? {}); // email bodies are HTML-escaped
      const message = { key: effect.key, channel: effect.channel, to, ...rendered, contactId: contact.id, nodeId: effect.nodeId, at: now };
      try {
        if (!to) throw new Error(`no ${effect.channel === 'email' ? 'email address' : 'phone number'}`);
        const receipt = await send(message);
        // Recorded before the machine hears of it: a crash after this line cannot send again.
        state.sent[effect.key] = { at: now, channel: message.channel, to, nodeId: effect.nodeId, contactId: contact.id };
        log({ at: now, contactId: contact.id, type: 'sent', nodeId: effect.nodeId, key: effect.key, channel: effect.channel, to });
        input = { type: 'sent', key: effect.key, at: now, ...(receipt?.providerMessageId ? { providerMessageId: receipt.providerMessageId } : {}) };
      } catch (e) {
        // Permanent here for simplicity; retrying is yours to decide (core's retryDecision helps).
        log({ at: now, contactId: contact.id, type: 'send-failed', nodeId: effect.nodeId, key: effect.key, reason: e.message });
        input = { type: 'sendFailed', key: effect.key, at: now, reason: e.message, permanent: true };
      }
    }
    const enrollment = state.enrollments[enrollmentId];
    await apply(enrollmentId, step(plan, enrollment, input, { now, contact }), now);
  }

  return {
    state,

    /** Enrolls a contact at `now` (a no-op if it is enrolled already). */
    async enroll(contact, now) {
      if (state.enrollments[contact.id]) return;
      state.contacts[contact.id] = contact;
      log({ at: now, contactId: contact.id, type: 'enrolled' });
      await apply(contact.id, start(plan, { now, contact, enrollmentId: contact.id }), now);
    },

    /** An event from a webhook: `{ id, contactId, type, at }`, handled at `now`. */
    async receive(event, now) {
      const enrollment = state.enrollments[event.contactId];
      if (!enrollment) {
        log({ at: now, contactId: event.contactId, type: 'event', event: event.type, eventId: event.id, note: 'unknown-contact' });
        return;
      }
      const contact = state.contacts[event.contactId];
      const result = step(plan, enrollment, { type: 'event', event: { id: event.id, type: event.type, at: event.at } }, { now, contact });
      log({ at: now, contactId: event.contactId, type: 'event', event: event.type, eventId: event.id, happenedAt: event.at, ...(result.note ? { note: result.note } : {}) });
      await apply(event.contactId, result, now);
    },

    /**
     * Fires every timer due at `now`, earliest first (a timer that comes due while doing so,
     * e.g. a send with no delay after a transition, fires too). Returns how many fired.
     * In a database: `select … where run_at <= $now order by run_at for update skip locked`.
     */
    async runDue(now) {
      let fired = 0;
      for (;;) {
        let due = null;
        for (const t of Object.values(state.timers)) if (t.runAt <= now && (!due || t.runAt < due.runAt || (t.runAt === due.runAt && t.key < due.key))) due = t;
        if (!due) return fired;
        delete state.timers[due.key];
        fired++;
        const enrollment = state.enrollments[due.enrollmentId];
        const result = step(plan, enrollment, { type: 'timer', key: due.key }, { now, contact: state.contacts[enrollment.contactId] });
        if (due.kind !== 'send') log({ at: now, contactId: enrollment.contactId, type: 'timer', key: due.key, dueAt: due.runAt, ...(result.note ? { note: result.note } : {}) });
        await apply(due.enrollmentId, result, now);
      }
    },

    /** The earliest pending timer (epoch ms), or null: when a scheduler should wake you next. */
    nextWakeAt() {
      let next = null;
      for (const t of Object.values(state.timers)) if (next === null || t.runAt < next) next = t.runAt;
      return next;
    },
  };
}

/**
 * The loop itself: enrolls `contacts` at `start`, then advances the clock from one instant
 * where something happens to the next (a timer comes due, or an event is received) until
 * `until`, and returns the state. Events are `{ id, contactId, type, at, receivedAt? }`.
 * Pass the `state` of an earlier run (e.g. parsed from its JSON file) to carry on where it
 * stopped: events received up to `state.clock` are not delivered again.
 */
export async function runLoop({ plan, contacts, events = [], start: startAt, until, send, state = emptyState() }) {
  const runner = createRunner({ plan, state, send });
  if (state.clock === null) {
    for (const contact of contacts) await runner.enroll(contact, startAt);
    await runner.runDue(startAt);
    state.clock = startAt;
  }
  const inbox = events.map((e) => ({ ...e, receivedAt: e.receivedAt ?? e.at })).sort((a, b) => a.receivedAt - b.receivedAt);
  let i = inbox.findIndex((e) => e.receivedAt > state.clock);
  if (i === -1) i = inbox.length;
  for (;;) {
    const wake = runner.nextWakeAt();
    const next = Math.min(wake ?? Infinity, inbox[i]?.receivedAt ?? Infinity);
    if (next > until) break;
    // Events first: they were received by now; then every timer due by now.
    for (; i < inbox.length && inbox[i].receivedAt <= next; i++) await runner.receive(inbox[i], next);
    await runner.runDue(next);
    state.clock = next;
  }
  state.clock = Math.max(state.clock, until);
  return state;
}
