/** Maps provider event names (Twilio, SendGrid, generic webhooks) to plan events. */

const MAP: Readonly<Record<string, string>> = {
  // plan events map to themselves
  delivered: 'delivered',
  opened: 'opened',
  clicked: 'clicked',
  replied: 'replied',
  bounced: 'bounced',
  failed: 'failed',
  unsubscribed: 'unsubscribed',
  resubscribed: 'resubscribed',
  // common provider names
  open: 'opened',
  read: 'opened',
  click: 'clicked',
  reply: 'replied',
  inbound: 'replied',
  bounce: 'bounced',
  dropped: 'bounced',
  blocked: 'bounced',
  undelivered: 'failed',
  unsubscribe: 'unsubscribed',
  group_unsubscribe: 'unsubscribed',
  spamreport: 'unsubscribed',
  stop: 'unsubscribed',
  optout: 'unsubscribed',
  start: 'resubscribed',
  group_resubscribe: 'resubscribed',
};

/** Delivery statuses an event implies for the outbox row, in the order they may advance. */
export const OUTBOUND_PROGRESS = ['sending', 'unknown', 'sent', 'delivered', 'read'] as const;

/**
 * The plan event for a provider event name (case-insensitive): `open` and `read` → `opened`,
 * `bounce` and `dropped` → `bounced`, `spamreport` and `STOP` → `unsubscribed`... Names it
 * does not know are returned unchanged (custom events).
 */
export function toPlanEvent(providerEvent: string): string {
  return MAP[providerEvent.toLowerCase()] ?? providerEvent;
}
