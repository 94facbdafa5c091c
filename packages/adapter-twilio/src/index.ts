/**
 * @dripline/adapter-twilio — Twilio SMS / WhatsApp and SendGrid email transports for
 * dripline, and the signed webhook handlers that turn provider callbacks into plan events.
 * Test fakes live in `@dripline/adapter-twilio/testing`.
 * @packageDocumentation
 */
export {
  createTwilioTransport,
  statusCallbackUrl,
  whatsappAddress,
  TENANT_PARAM,
  KEY_PARAM,
  type TwilioTransportOptions,
  type TwilioClientLike,
} from './twilio/twilio-transport.js';
export {
  classifyTwilioFailure,
  classifyByStatus,
  TWILIO_ERROR_CODES,
  type SendFailureReason,
  type TwilioCodeRule,
  type ProviderFailure,
  type Classification,
} from './twilio/twilio-errors.js';
export { computeTwilioSignature, verifyTwilioSignature, twilioSignatureBase, urlVariants, type SignedParams, type VerifyTwilioSignatureInput } from './twilio/twilio-signature.js';
export {
  createTwilioWebhooks,
  requestUrl,
  OPT_IN_KEYWORDS,
  OPT_OUT_KEYWORDS,
  type TwilioWebhooks,
  type TwilioWebhooksOptions,
  type EventSink,
  type SenderAlert,
} from './twilio/twilio-webhooks.js';
export { createSendgridTransport, type SendgridTransportOptions } from './sendgrid/sendgrid-transport.js';
export {
  verifySendgridSignature,
  loadSendgridPublicKey,
  SENDGRID_SIGNATURE_HEADER,
  SENDGRID_TIMESTAMP_HEADER,
  type SendgridPublicKey,
} from './sendgrid/sendgrid-signature.js';
export { createSendgridWebhooks, type SendgridWebhooks, type SendgridWebhooksOptions, type SendgridEventsRequest } from './sendgrid/sendgrid-webhooks.js';
export type { WebhookRequest, WebhookResponse, HeadersLike, FormBodyLike } from './shared/http.js';
