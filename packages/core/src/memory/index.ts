export * from './memory-store.js';
export * from './memory-queue.js';
export * from './fake-transport.js';
export * from './virtual-clock.js';
