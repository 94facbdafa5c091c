/**
 * The interfaces adapters implement, one per file under `ports/`. Types only.
 * @packageDocumentation
 */
export type * from './ports/campaign-store.js';
export type * from './ports/action-queue.js';
export type * from './ports/transport.js';
export type * from './ports/clock.js';
export type * from './ports/logger.js';
export type * from './ports/authorizer.js';
export type * from './ports/contact-source.js';
