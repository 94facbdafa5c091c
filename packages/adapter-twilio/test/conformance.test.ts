/** The shared Transport conformance suite, against the local fakes. */
import { runTransportConformance, type TransportHarness } from '@dripline/core/testing';
import type { SendErrorKind } from '@dripline/core';
import { createSendgridTransport, createTwilioTransport } from '../src/index.js';
import { startFakeSendgrid, startFakeTwilio, type FakeTwilio } from '../src/testing/index.js';

function twilioFailure(fake: FakeTwilio, kind: SendErrorKind) {
  if (kind === 'retryable') fake.failNext({ status: 429, code: 20429, retryAfterSeconds: 1 });
  else if (kind === 'ambiguous') fake.failNext({ status: 503 });
  else fake.failNext({ status: 400, code: 21211 });
}

for (const channel of ['sms', 'whatsapp'] as const) {
  runTransportConformance({
    name: `twilio ${channel} (fake server)`,
    async makeTransport(): Promise<TransportHarness> {
      const fake = await startFakeTwilio();
      const transport = createTwilioTransport({
        accountSid: fake.accountSid,
        authToken: fake.authToken,
        from: '+15005550006',
        statusCallback: 'https://hooks.example.test/twilio/status',
        baseUrl: fake.url,
        timeoutMs: 2000,
      });
      return {
        transport,
        channel,
        to: '+15555550100',
        failNext: async (kind) => twilioFailure(fake, kind),
        received: async () =>
          fake.messages().map((m) => ({ to: m.to.replace(/^whatsapp:/, ''), body: m.body, channel: m.to.startsWith('whatsapp:') ? 'whatsapp' : 'sms' })),
        close: () => fake.close(),
      };
    },
  });
}

runTransportConformance({
  name: 'sendgrid email (fake server)',
  async makeTransport(): Promise<TransportHarness> {
    const fake = await startFakeSendgrid();
    const transport = createSendgridTransport({
      apiKey: fake.apiKey,
      from: 'campaigns@example.test',
      baseUrl: fake.url,
      unsubscribeUrl: (m) => `https://example.test/unsubscribe/${encodeURIComponent(m.key)}`,
      timeoutMs: 2000,
    });
    return {
      transport,
      channel: 'email',
      to: 'conformance@example.test',
      failNext: async (kind) => fake.failNext(kind === 'retryable' ? { status: 429, retryAfterSeconds: 1 } : kind === 'ambiguous' ? { status: 500 } : { status: 400 }),
      received: async () => fake.messages().map((m) => ({ to: m.to, body: m.body, channel: 'email' })),
      close: () => fake.close(),
    };
  },
});
