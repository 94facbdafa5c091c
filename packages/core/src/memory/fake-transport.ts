/**
 * A fake {@link Transport} that records every message and can be told to fail. Used by
 * tests, the simulator and the quickstart.
 */
import { transportError } from '../errors.js';
import type { Channel } from '../plan/schema.js';
import type { OutboundMessage, SendErrorKind, SendReceipt, Transport } from '../ports/transport.js';

/** A message the fake transport accepted. */
export interface FakeSentMessage extends OutboundMessage {
  providerMessageId: string;
  /** Which call of `send` this was (1-based, over all messages). */
  call: number;
}

/** Options of {@link createFakeTransport}. */
export interface FakeTransportOptions {
  name?: string;
  channels?: readonly Channel[];
  /**
   * Decides whether a call fails: return a kind to throw that classified error, or
   * `null` to accept. `attempt` counts this key's calls, from 1. Must be deterministic for
   * reproducible tests (use a seeded hash, not `Math.random`).
   */
  fail?: (message: OutboundMessage, attempt: number) => SendErrorKind | null;
}

/** The fake transport, with what it recorded. */
export interface FakeTransport extends Transport {
  /** Accepted messages, in order. */
  readonly sent: readonly FakeSentMessage[];
  /** Number of `send` calls, failed ones included. */
  readonly calls: number;
}

/** Creates a fake transport. Provider ids are `fake-1`, `fake-2`, ... in acceptance order. */
export function createFakeTransport(options: FakeTransportOptions = {}): FakeTransport {
  const sent: FakeSentMessage[] = [];
  const attempts = new Map<string, number>();
  let calls = 0;
  return {
    name: options.name ?? 'fake',
    channels: options.channels ?? ['email', 'sms', 'whatsapp'],
    get sent() {
      return sent;
    },
    get calls() {
      return calls;
    },
    async send(message): Promise<SendReceipt> {
      calls += 1;
      const attempt = (attempts.get(message.key) ?? 0) + 1;
      attempts.set(message.key, attempt);
      const kind = options.fail?.(message, attempt) ?? null;
      if (kind) throw transportError(kind, `fake ${kind} failure sending ${message.key} (attempt ${attempt})`);
      const providerMessageId = `fake-${sent.length + 1}`;
      sent.push({ ...message, providerMessageId, call: calls });
      return { providerMessageId };
    },
  };
}
