/** Evaluates branch conditions against a contact's attributes and the events seen. */
import type { Condition } from '../plan/schema.js';

/** Reads `a.b.c` from attributes; a key containing dots wins over the nested path. */
export function readAttribute(attributes: Record<string, unknown>, path: string): unknown {
  if (Object.prototype.hasOwnProperty.call(attributes, path)) return attributes[path];
  let v: unknown = attributes;
  for (const part of path.split('.')) {
    if (v === null || typeof v !== 'object' || !Object.prototype.hasOwnProperty.call(v, part)) return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

/**
 * Whether `c` holds. Comparisons (`gt`, `gte`, `lt`, `lte`) are false for anything but a
 * finite number; `eq` and `ne` compare with `===` (a missing attribute is `undefined`, so
 * `{ attr, eq: null }` does not match it: use `exists`).
 */
export function evaluateCondition(c: Condition, attributes: Record<string, unknown>, seenEvents: readonly string[]): boolean {
  if ('all' in c) return c.all.every((x) => evaluateCondition(x, attributes, seenEvents));
  if ('any' in c) return c.any.some((x) => evaluateCondition(x, attributes, seenEvents));
  if ('not' in c) return !evaluateCondition(c.not, attributes, seenEvents);
  if ('event' in c) return seenEvents.includes(c.event);
  const v = readAttribute(attributes, c.attr);
  if ('eq' in c) return v === c.eq;
  if ('ne' in c) return v !== c.ne;
  if ('in' in c) return c.in.some((x) => x === v);
  if ('exists' in c) return (v !== undefined && v !== null) === c.exists;
  if (typeof v !== 'number' || !Number.isFinite(v)) return false;
  if ('gt' in c) return v > c.gt;
  if ('gte' in c) return v >= c.gte;
  if ('lt' in c) return v < c.lt;
  return v <= c.lte;
}
