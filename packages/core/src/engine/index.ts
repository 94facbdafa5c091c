export * from './runtime.js';
export * from './simulate.js';
