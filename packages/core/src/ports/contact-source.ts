import type { Contact } from '../machine/types.js';

/** Where messages for a contact go, per channel. */
export interface ContactAddress {
  email?: string;
  /** E.164 phone number for SMS. */
  phone?: string;
  /** E.164 number for WhatsApp (without the `whatsapp:` prefix). */
  whatsapp?: string;
}

/** A contact of an audience: the machine's {@link Contact} plus where to reach them. */
export interface AudienceContact extends Contact {
  address: ContactAddress;
}

/**
 * Streams an audience (a static list, a segment's members...) in pages, so that enrolling a
 * million contacts never holds them all in memory.
 */
export interface ContactSource {
  /**
   * Yields pages of at most `pageSize` contacts, in a stable order. Pages are requested one
   * at a time: the next is not asked for until the previous one is enrolled.
   */
  pages(options: { pageSize: number; signal?: AbortSignal }): AsyncIterable<AudienceContact[]>;
}
