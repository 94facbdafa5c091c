// The stand-in for Twilio's Messages API, in a process of its own (fleet.mjs forks it): real
// Twilio is not on your machine, and a fake that shared an event loop with the demo's
// harness would stamp arrivals late whenever the harness is busy, and see bursts that never
// happened. It is `startFakeTwilio` from @dripline/adapter-twilio/testing: Basic auth, a
// Twilio-shaped 201 for each accepted message, and 429 (code 20429) for any request over
// FAKE_TWILIO_RATE in a sliding second.
//
// IPC: sends { type: 'listening', url, accountSid, authToken }; answers
// { type: 'stats', id, windowMs } with counts, { type: 'dump', id } with its records, and
// { type: 'close' } by closing and exiting.
import { startFakeTwilio } from '@dripline/adapter-twilio/testing';

const rate = Number(process.env.FAKE_TWILIO_RATE || 10);
const fake = await startFakeTwilio({ messagesPerSecond: rate });

process.on('message', async (m) => {
  if (m?.type === 'stats') {
    const now = Date.now();
    const requests = fake.requests();
    let recent = 0;
    for (const r of requests) if (r.status < 300 && r.at > now - m.windowMs) recent++;
    process.send({ type: 'stats', id: m.id, accepted: requests.filter((r) => r.status < 300).length, recent, refused429: requests.filter((r) => r.status === 429).length });
  } else if (m?.type === 'dump') {
    process.send({ type: 'dump', id: m.id, messages: fake.messages().map(({ to, body, receivedAt }) => ({ to, body, receivedAt })), requests: fake.requests() });
  } else if (m?.type === 'close') {
    await fake.close();
    process.exit(0);
  }
});
// Exit with the parent, whatever happens to it.
process.on('disconnect', () => void fake.close().finally(() => process.exit(0)));
process.send({ type: 'listening', url: fake.url, accountSid: fake.accountSid, authToken: fake.authToken });
