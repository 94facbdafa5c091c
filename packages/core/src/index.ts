/**
 * @dripline/core — the pure core of dripline: plan schema and compiler, state machine,
 * scheduling, ports, in-memory adapters, runtime and simulator.
 * @packageDocumentation
 */
export * from './errors.js';
export * from './plan/index.js';
export * from './schedule/index.js';
export * from './machine/index.js';
export * from './policy/index.js';
export type * from './ports.js';
export * from './memory/index.js';
export * from './engine/index.js';
