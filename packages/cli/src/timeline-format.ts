/**
 * The text of `dripline simulate`: one contact's story (local time, node, what happened) and
 * the summary tables.
 */
import type { Plan, SimulationSummary, TimelineEntry } from '@dripline/core';

const formatters = new Map<string, Intl.DateTimeFormat>();

/** `Mon 2026-03-02 08:00 PST`: an instant in a zone (cached formatter per zone). */
export function formatLocal(ms: number, zone: string): string {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      weekday: 'short',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
      timeZoneName: 'short',
    });
    formatters.set(zone, f);
  }
  const p: Record<string, string> = {};
  for (const part of f.formatToParts(ms)) p[part.type] = part.value;
  return `${p.weekday} ${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute} ${p.timeZoneName}`;
}

/** `2026-03-02T16:00Z`: an instant in UTC, to the minute. */
export function formatUtc(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 16)}Z`;
}

/**
 * One contact's timeline as lines: local time in `zone`, the node the contact was on, what
 * happened (enrolled, scheduled, sent, events, transitions and why, the end).
 */
export function formatTimeline(entries: readonly TimelineEntry[], zone: string): string[] {
  const lines: string[] = [];
  let node = '(start)';
  const hhmm = (ms: number) => formatLocal(ms, zone).slice(15, 20);
  const line = (at: number, where: string, what: string) => lines.push(`  ${formatLocal(at, zone).padEnd(26)} ${where.padEnd(14)} ${what}`);
  // Events that moved the contact show as their transition; the others get a line of their own.
  const moved = new Set<string>();
  for (const e of entries) if (e.kind === 'transition' && e.record.cause.eventId) moved.add(e.record.cause.eventId);
  let endedAt: number | undefined;
  for (const e of entries) {
    switch (e.kind) {
      case 'transition': {
        const c = e.record.cause;
        const to = e.record.to;
        if (c.kind === 'start') line(e.at, node, `enrolled → ${to}`);
        else if (c.kind === 'event') line(e.at, node, `${c.on}${c.replayed ? ' (replayed: it arrived early)' : ''} → ${to}`);
        else if (c.kind === 'timer') line(e.at, node, `${c.on} timeout → ${to}`);
        else if (c.kind === 'branch') line(e.at, node, `${c.index === -1 ? 'else' : `case ${c.index ?? '?'}`} → ${to}`);
        else if (c.kind === 'split') line(e.at, node, `variant ${c.index ?? '?'} → ${to}`);
        else line(e.at, node, `${c.kind}${c.on ? ` ${c.on}` : ''} → ${to}`);
        node = to;
        break;
      }
      case 'scheduled':
        if (e.requestedAt !== undefined) line(e.at, e.nodeId, `send moved by quiet hours from ${hhmm(e.requestedAt)} to ${formatLocal(e.runAt, zone)}`);
        else if (e.runAt > e.at) line(e.at, e.nodeId, `send scheduled for ${formatLocal(e.runAt, zone)}`);
        break;
      case 'sent':
        line(e.at, e.nodeId, `sent (${e.channel} to ${e.to})`);
        break;
      case 'send-failed':
        line(e.at, e.nodeId, `send failed (${e.errorKind}): ${e.reason}`);
        break;
      case 'deferred':
        line(e.at, node, `send deferred to ${formatLocal(e.until, zone)}: ${e.reason}`);
        break;
      case 'event': {
        const what = e.event.type;
        if (e.note === 'event-recorded') line(e.at, node, `${what}: recorded (no transition on it here)`);
        else if (e.note === 'late-event') line(e.at, node, `${what}: too late for its window, recorded only`);
        else if (e.note === 'already-ended') line(e.at, node, `${what}: after the end, ignored`);
        else if (e.note === 'duplicate' || e.note === 'duplicate-event') line(e.at, node, `${what}: duplicate, ignored`);
        else if (e.note) line(e.at, node, `${what}: ${e.note}`);
        // An exitOn event shows as the end it caused.
        else if (endedAt === e.at) break;
        else if (!e.event.id || !moved.has(e.event.id)) line(e.at, node, `${what}: received, no transition on it here`);
        break;
      }
      case 'ended':
        line(e.at, node, `ended: ${e.status} (${e.reason})`);
        endedAt = e.at;
        break;
    }
  }
  return lines;
}

function table(title: string, record: Record<string, number>, order?: (a: string, b: string) => number): string[] {
  const keys = Object.keys(record).sort(order ?? ((a, b) => record[b]! - record[a]! || a.localeCompare(b)));
  if (!keys.length) return [`${title}: none`];
  const width = Math.max(...keys.map((k) => k.length));
  const numWidth = Math.max(...keys.map((k) => String(record[k]).length));
  return [title, ...keys.map((k) => `  ${k.padEnd(width)}  ${String(record[k]).padStart(numWidth)}`)];
}

/** The summary tables: sent per node (plan order), transitions, statuses, events, counts. */
export function formatSummary(summary: SimulationSummary, plan: Plan): string[] {
  const order = plan.nodes.map((n) => n.id);
  const out = [
    `Summary: ${summary.contacts} contacts, ${formatUtc(summary.startedAt)} → ${formatUtc(summary.endedAt)}`,
    ...table('sent per node', summary.sentByNode, (a, b) => order.indexOf(a) - order.indexOf(b)),
    ...table('transitions (from → to)', summary.transitions),
    ...table('enrollments by status', summary.byStatus),
    ...table('events by type', summary.events),
    `sends moved by quiet hours  ${summary.movedByQuietHours}`,
    `early events replayed       ${summary.replayed}`,
    `failed sends                ${summary.failedSends}`,
  ];
  return out;
}
