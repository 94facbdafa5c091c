/**
 * Message rendering with Mustache. Email bodies HTML-escape variables by default; SMS and
 * WhatsApp bodies are plain text and are not escaped. Mustache caches parsed templates.
 */
import Mustache from 'mustache';
import type { Channel } from './schema.js';

/** A rendered message. */
export interface RenderedMessage {
  subject?: string;
  body: string;
}

const plain = (v: unknown): string => (v === undefined || v === null ? '' : String(v));

/**
 * Renders a send node's subject and body with the given variables.
 *
 * @example
 * ```ts
 * renderMessage({ channel: 'email', subject: 'Hi {{name}}', body: '<p>{{name}}</p>' }, { name: '<Ann>' });
 * // { subject: 'Hi <Ann>', body: '<p>&lt;Ann&gt;</p>' }
 * ```
 */
export function renderMessage(
  message: { channel: Channel; subject?: string; body: string },
  variables: Record<string, unknown>,
  options: { escapeHtml?: boolean } = {},
): RenderedMessage {
  const escapeHtml = options.escapeHtml ?? message.channel === 'email';
  const body = Mustache.render(message.body, variables, undefined, escapeHtml ? undefined : { escape: plain });
  // Subjects are plain text whatever the channel.
  if (message.subject === undefined) return { body };
  return { subject: Mustache.render(message.subject, variables, undefined, { escape: plain }), body };
}
