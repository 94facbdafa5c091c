// The durable-workflow pattern: one long-running function per contact that sleeps until its
// next wake-up, wakes early for an event, and lets dripline's pure machine decide every move.
// This is how the machine runs inside Temporal (or Restate, Inngest, DBOS...): the workflow
// engine persists the function's progress, so the enrollment needs no table of its own.
//
//   node src/workflow-style.mjs [--json]
//
// Temporal is not needed to run this file: `createLocalRuntime` below is a small stand-in
// with a simulated clock that provides the same four primitives. In a Temporal project,
// `contactWorkflow` goes into your workflows file almost unchanged (see the mapping below);
// @dripline/core is pure (no clock, no I/O, no Math.random), so it is safe in Temporal's
// deterministic workflow sandbox, and replays give the same decisions.
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { compilePlan, renderMessage, start, step } from '@dripline/core';
import { CONTACTS, EVENTS, PLAN, START, UNTIL, localTime, utcTime } from './scenario.mjs';

/**
 * One contact's journey through the plan.
 *
 * `wf` is the workflow API, mapped to Temporal's as follows:
 *   wf.now()              Date.now() in a workflow (Temporal makes it deterministic workflow time)
 *   wf.sleep(ms)          sleep(ms) from '@temporalio/workflow' (a durable timer)
 *   wf.condition(fn, ms)  condition(fn, ms) from '@temporalio/workflow': true once fn() holds, false after ms
 *   wf.onEvent(handler)   setHandler(eventSignal, handler) with `const eventSignal = defineSignal('event')`;
 *                         your webhook handler calls `handle.signal(eventSignal, event)`
 * `activities.sendMessage` is `proxyActivities({ startToCloseTimeout: '1 minute' }).sendMessage`:
 * an activity (I/O lives there), retried by Temporal, idempotent by the message's key.
 */
export async function contactWorkflow(wf, activities, { plan: planJson, contact }) {
  const plan = compilePlan(planJson); // pure and deterministic: fine inside the workflow sandbox
  const inbox = [];
  wf.onEvent((event) => inbox.push(event));
  const timers = new Map(); // action key → runAt: this workflow's own pending wake-ups
  const path = [];
  let enrollment;

  /** Carries out a step's effects: timers are kept here, sends go to the activity. */
  async function carryOut(result) {
    enrollment = result.enrollment;
    for (const effect of result.effects) {
      if (effect.type === 'schedule') timers.set(effect.action.key, effect.action.runAt);
      else if (effect.type === 'cancel') for (const key of effect.keys) timers.delete(key);
      else if (effect.type === 'transition') path.push({ to: effect.record.to, at: effect.record.at, cause: effect.record.cause });
      else if (effect.type === 'send') {
        const to = effect.channel === 'email' ? contact.address.email : contact.address.phone;
        const receipt = await activities.sendMessage({ key: effect.key, channel: effect.channel, to, contactId: contact.id, nodeId: effect.nodeId, ...renderMessage(effect, contact.attributes) });
        const at = wf.now();
        await carryOut(step(plan, enrollment, { type: 'sent', key: effect.key, at, providerMessageId: receipt.providerMessageId }, { now: at, contact }));
      }
    }
  }

  await carryOut(start(plan, { now: wf.now(), contact, enrollmentId: contact.id }));
  while (enrollment.status === 'active') {
    const next = Math.min(...timers.values()); // Infinity: nothing scheduled, wait for an event
    // Sleep until the next timer, waking early if an event arrives (Temporal: `await condition(...)`).
    await wf.condition(() => inbox.length > 0, next === Infinity ? undefined : Math.max(0, next - wf.now()));
    const now = wf.now();
    if (inbox.length > 0) {
      const event = inbox.shift();
      await carryOut(step(plan, enrollment, { type: 'event', event: { id: event.id, type: event.type, at: event.at } }, { now, contact }));
      continue;
    }
    const [key] = [...timers].filter(([, runAt]) => runAt <= now).sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1))[0] ?? [];
    if (key === undefined) continue;
    timers.delete(key);
    await carryOut(step(plan, enrollment, { type: 'timer', key }, { now, contact }));
  }
  return { enrollment, path };
}

/**
 * A stand-in for Temporal's worker with a simulated clock: runs workflows concurrently,
 * provides wf.now / sleep / condition / onEvent, and advances time to the next wake-up or
 * signal. Only what this demo needs; it persists nothing.
 */
export function createLocalRuntime(startAt) {
  let now = startAt;
  let running = 0; // workflows that are executing (not blocked on a timer or a condition)
  const waiters = new Set(); // { workflowId, wakeAt, check?, resolve }
  const workflows = new Map(); // id → { handler, done, result }

  function block(workflowId, wakeAt, check) {
    running--;
    return new Promise((resolve) => waiters.add({ workflowId, wakeAt, check, resolve }));
  }
  function wake(w, value) {
    waiters.delete(w);
    running++;
    w.resolve(value);
  }
  /** Lets every woken workflow run until it blocks again or ends. */
  async function settle() {
    while (running > 0) await new Promise((r) => setImmediate(r));
  }

  return {
    now: () => now,
    start(workflowId, body) {
      const entry = { handler: null, done: false, result: undefined, error: undefined };
      workflows.set(workflowId, entry);
      const wf = {
        now: () => now,
        sleep: (ms) => block(workflowId, now + ms),
        condition: (fn, ms) => (fn() ? Promise.resolve(true) : block(workflowId, ms === undefined ? Infinity : now + ms, fn)),
        onEvent: (handler) => (entry.handler = handler),
      };
      running++;
      Promise.resolve()
        .then(() => body(wf))
        .then(
          (result) => Object.assign(entry, { done: true, result }),
          (error) => Object.assign(entry, { done: true, error }),
        )
        .finally(() => running--);
    },
    /** Delivers a signal; returns false if the workflow has already completed. */
    signal(workflowId, event) {
      const entry = workflows.get(workflowId);
      if (!entry || entry.done) return false;
      entry.handler?.(event);
      for (const w of [...waiters]) if (w.workflowId === workflowId && w.check?.()) wake(w, true);
      return true;
    },
    /** The earliest timer of any workflow (Infinity if none). */
    nextWakeAt: () => Math.min(...[...waiters].map((w) => w.wakeAt)),
    /** Moves the clock to `at` (no timer fires yet). */
    async advanceTo(at) {
      now = Math.max(now, at);
      await settle();
    },
    /** Fires every timer due by now, earliest first, letting each woken workflow run. */
    async fireDue() {
      await settle();
      for (;;) {
        const due = [...waiters].filter((w) => w.wakeAt <= now).sort((a, b) => a.wakeAt - b.wakeAt)[0];
        if (!due) return;
        wake(due, false);
        await settle();
      }
    },
    settle,
    results: () => new Map([...workflows].map(([id, e]) => [id, e])),
  };
}

/** Runs the scenario with one workflow per contact; returns the sends and each workflow's result. */
export async function runWorkflows({ plan = PLAN, contacts = CONTACTS, events = EVENTS, startAt = START, until = UNTIL, onSend = () => {} } = {}) {
  const runtime = createLocalRuntime(startAt);
  const sends = [];
  const dropped = [];
  const activities = {
    async sendMessage(message) {
      const sent = { ...message, at: runtime.now() };
      sends.push(sent);
      onSend(sent);
      return { providerMessageId: `msg_${sends.length}` };
    },
  };
  for (const contact of contacts) runtime.start(contact.id, (wf) => contactWorkflow(wf, activities, { plan, contact }));
  await runtime.fireDue();
  const inbox = [...events].sort((a, b) => a.receivedAt - b.receivedAt);
  let i = 0;
  for (;;) {
    const next = Math.min(runtime.nextWakeAt(), inbox[i]?.receivedAt ?? Infinity);
    if (next > until) break;
    await runtime.advanceTo(next);
    // As in loop.mjs: events received by now first, then every timer due by now.
    for (; i < inbox.length && inbox[i].receivedAt <= next; i++) {
      if (!runtime.signal(inbox[i].contactId, inbox[i])) dropped.push(inbox[i]);
    }
    await runtime.fireDue();
  }
  const results = {};
  for (const [id, entry] of runtime.results()) {
    if (entry.error) throw entry.error;
    results[id] = entry.done ? { ...entry.result, done: true } : { done: false };
  }
  return { sends, results, dropped };
}

// ------------------------------------------------------------------ run as a script
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values: args } = parseArgs({ options: { json: { type: 'boolean', default: false } } });
  const zoneOf = (id) => CONTACTS.find((c) => c.id === id).timezone;
  const print = (line) => args.json || console.log(line);
  print(`dripline machine in a durable-workflow style — one workflow per contact, ${CONTACTS.length} contacts, simulated clock`);
  print('Sends (activities the workflows called)');
  const out = await runWorkflows({
    onSend: (m) => print(`  ${localTime(m.at, zoneOf(m.contactId)).padEnd(22)} ${utcTime(m.at)}  ${m.contactId.padEnd(6)}${m.channel.padEnd(6)}${m.nodeId.padEnd(12)}→ ${m.to}`),
  });
  if (args.json) {
    console.log(JSON.stringify(out));
  } else {
    print('\nWorkflows');
    for (const c of CONTACTS) {
      const r = out.results[c.id];
      if (!r.done) {
        print(`  ${c.id.padEnd(6)} still running (sleeping until its next timer)`);
        continue;
      }
      print(`  ${c.id.padEnd(6)} returned ${r.enrollment.status.padEnd(10)} ${r.path.map((p) => p.to).join(' → ')}  (${r.enrollment.endReason})`);
    }
    for (const e of out.dropped) print(`  signal ${e.type} for ${e.contactId} at ${utcTime(e.receivedAt)} dropped: its workflow had completed`);
    print(`\n${out.sends.length} messages sent, ${new Set(out.sends.map((s) => s.key)).size} distinct keys`);
  }
}
