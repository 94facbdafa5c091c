/**
 * The shared `Transport` conformance suite and the harness for the fake transport.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isDriplineError } from '../errors.js';
import { createFakeTransport } from '../memory/fake-transport.js';
import type { Channel } from '../plan/schema.js';
import type { OutboundMessage, SendErrorKind, Transport } from '../ports/transport.js';
import { NASTY } from './fixtures.js';

/**
 * What {@link runTransportConformance} drives: a transport wired to a provider the harness
 * controls (a fake, a local mock server, a provider's test credentials) and can inspect.
 */
export interface TransportHarness {
  /** The transport under test. */
  transport: Transport;
  /** Makes the next `send` fail as the provider would for this kind of error. */
  failNext(kind: SendErrorKind): Promise<void>;
  /** What the provider received and accepted so far, in order. */
  received(): Promise<Array<{ to: string; body: string; channel: string }>>;
  /** Stops mock servers and releases connections. */
  close(): Promise<void>;
  /** The channel the suite sends on; one of `transport.channels`. */
  channel: Channel;
  /** A valid recipient for that channel. */
  to: string;
}

/** Options of {@link runTransportConformance}. */
export interface TransportConformanceOptions {
  /** Names the suite in the report, e.g. `twilio (mock server)`. */
  name: string;
  /** A fresh harness for each test. */
  makeTransport: () => Promise<TransportHarness>;
}

const KINDS: readonly SendErrorKind[] = ['retryable', 'ambiguous', 'permanent'];

/**
 * Registers the `Transport` conformance tests (vitest `describe` / `it`): a send resolves with
 * a distinct provider message id, the provider gets exactly the body and recipient, every
 * failure kind surfaces as a `TRANSPORT_ERROR` with `details.kind` and the right `retryable`
 * flag, and the transport keeps working after a failure.
 *
 * @example
 * ```ts
 * // packages/adapter-twilio/test/transport.conformance.test.ts
 * import { runTransportConformance } from '@dripline/core/testing';
 * import { createTwilioTransport } from '../src/index.js';
 * import { startMockTwilio } from './mock-twilio.js';
 *
 * runTransportConformance({
 *   name: 'twilio (mock server)',
 *   async makeTransport() {
 *     const mock = await startMockTwilio();
 *     const transport = createTwilioTransport({ accountSid: 'AC1', authToken: 't', from: '+15005550006', baseUrl: mock.url });
 *     return {
 *       transport,
 *       channel: 'sms',
 *       to: '+15555550100',
 *       failNext: async (kind) => mock.failNext(kind === 'retryable' ? 429 : kind === 'ambiguous' ? 503 : 21211),
 *       received: async () => mock.messages.map((m) => ({ to: m.To, body: m.Body, channel: 'sms' })),
 *       close: () => mock.close(),
 *     };
 *   },
 * });
 * ```
 */
export function runTransportConformance(options: TransportConformanceOptions): void {
  const { name, makeTransport } = options;
  let counter = 0;

  describe(`Transport conformance: ${name}`, () => {
    let h: TransportHarness;
    beforeEach(async () => {
      h = await makeTransport();
    });
    afterEach(async () => {
      await h.close();
    });

    const message = (body: string): OutboundMessage => {
      const n = ++counter;
      return {
        key: `conformance:${n}:hello:1:send`,
        tenantId: 't-conformance',
        campaignId: 'c-conformance',
        contactId: `contact-${n}`,
        channel: h.channel,
        to: h.to,
        ...(h.channel === 'email' ? { subject: `Subject ${n}` } : {}),
        body,
      };
    };
    /** What the provider received since `before` entries. */
    const receivedSince = async (before: number) => (await h.received()).slice(before);

    it('sends on the channel the harness names', () => {
      expect(typeof h.transport.name).toBe('string');
      expect(h.transport.name.length).toBeGreaterThan(0);
      expect(h.transport.channels).toContain(h.channel);
    });

    it('resolves with a non-empty provider message id, distinct per message', async () => {
      const a = await h.transport.send(message('first message'));
      const b = await h.transport.send(message('second message'));
      expect(typeof a.providerMessageId).toBe('string');
      expect(a.providerMessageId.length).toBeGreaterThan(0);
      expect(typeof b.providerMessageId).toBe('string');
      expect(b.providerMessageId.length).toBeGreaterThan(0);
      expect(b.providerMessageId).not.toBe(a.providerMessageId);
    });

    it('hands the provider exactly the body and the recipient', async () => {
      const before = (await h.received()).length;
      const body = ` Hi ${NASTY.unicode} ${NASTY.emoji} ${NASTY.quotes} ${NASTY.injection} https://example.test/?a=1&b=%20+c ${NASTY.whitespace}`;
      await h.transport.send(message(body));
      expect(await receivedSince(before)).toEqual([{ to: h.to, body, channel: h.channel }]);
    });

    for (const kind of KINDS) {
      it(`${kind === 'ambiguous' ? 'an' : 'a'} ${kind} failure throws TRANSPORT_ERROR with details.kind "${kind}" and retryable ${kind === 'retryable'}; the next send works`, async () => {
        await h.failNext(kind);
        let caught: unknown = undefined;
        let resolved = false;
        try {
          await h.transport.send(message(`fails as ${kind}`));
          resolved = true;
        } catch (e) {
          caught = e;
        }
        expect(resolved, `send resolved although failNext('${kind}') was set`).toBe(false);
        expect(isDriplineError(caught, 'TRANSPORT_ERROR'), `not a TRANSPORT_ERROR: ${String(caught)}`).toBe(true);
        if (!isDriplineError(caught, 'TRANSPORT_ERROR')) return;
        expect(caught.details.kind).toBe(kind);
        expect(caught.retryable).toBe(kind === 'retryable');

        const before = (await h.received()).length;
        const receipt = await h.transport.send(message(`works after a ${kind} failure`));
        expect(receipt.providerMessageId.length).toBeGreaterThan(0);
        expect(await receivedSince(before)).toEqual([{ to: h.to, body: `works after a ${kind} failure`, channel: h.channel }]);
      });
    }
  });
}

/**
 * A {@link TransportHarness} over the fake transport: `failNext` arms a one-shot failure,
 * `received` lists the messages it accepted. The suite's reference run.
 *
 * @example
 * ```ts
 * import { fakeTransportHarness, runTransportConformance } from '@dripline/core/testing';
 *
 * runTransportConformance({ name: 'fake', makeTransport: async () => fakeTransportHarness() });
 * ```
 */
export function fakeTransportHarness(options: { channel?: Channel; to?: string } = {}): TransportHarness {
  let next: SendErrorKind | null = null;
  const transport = createFakeTransport({
    fail: () => {
      const kind = next;
      next = null;
      return kind;
    },
  });
  const channel = options.channel ?? 'sms';
  return {
    transport,
    channel,
    to: options.to ?? (channel === 'email' ? 'conformance@example.test' : '+15555550100'),
    async failNext(kind) {
      next = kind;
    },
    async received() {
      return transport.sent.map((m) => ({ to: m.to, body: m.body, channel: m.channel }));
    },
    async close() {},
  };
}
