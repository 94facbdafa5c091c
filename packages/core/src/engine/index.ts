export * from './types.js';
export * from './lifecycle.js';
export * from './provider-events.js';
export * from './engine.js';
export * from './worker.js';
export * from './simulate.js';
export * from './build-campaigns.js';
export { bulkOperations, claimChunk } from './bulk.js';
