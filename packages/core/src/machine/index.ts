export * from './types.js';
export { start, step, actionKey, actionKind } from './machine.js';
export { evaluateCondition, readAttribute } from './condition.js';
export { hash32, hashToUnit } from './hash.js';
