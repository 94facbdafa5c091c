/**
 * `@dripline/adapter-twilio/testing`: local fakes of Twilio's Messages API and SendGrid's
 * Mail Send API (node:http on 127.0.0.1, port 0), and helpers that sign webhook requests as
 * Twilio and SendGrid do. Used by this package's tests, other packages' tests and the examples.
 *
 * @example
 * ```ts
 * import { startFakeTwilio } from '@dripline/adapter-twilio/testing';
 * const fake = await startFakeTwilio({ messagesPerSecond: 10, sendStatusCallbacks: true });
 * // ... createTwilioTransport({ ..., baseUrl: fake.url })
 * await fake.close();
 * ```
 * @packageDocumentation
 */
export { startFakeTwilio, type FakeTwilio, type FakeTwilioOptions, type FakeTwilioMessage, type FakeTwilioCallback } from './fake-twilio.js';
export { startFakeSendgrid, type FakeSendgrid, type FakeSendgridOptions, type FakeSendgridMessage, type SendgridEvent, type SignedSendgridRequest } from './fake-sendgrid.js';
export type { FailSpec } from './fake-server.js';
export { signTwilioRequest, postSignedTwilioWebhook, type SignedTwilioRequest } from './sign.js';
export { signSendgridPayload } from '../sendgrid/sendgrid-signature.js';
