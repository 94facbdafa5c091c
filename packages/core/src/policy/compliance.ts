/**
 * Compliance presets as data: the quiet hours and frequency caps that consumer-messaging laws
 * impose, resolved by name.
 *
 * @packageDocumentation
 */
import { DriplineError } from '../errors.js';
import type { QuietHours } from '../schedule/index.js';
import { show } from './options.js';

/** A per-recipient frequency cap: at most `max` messages in any window of `windowMs`. */
export interface FrequencyCap {
  /** Messages allowed per window. */
  readonly max: number;
  /** The window, in ms. */
  readonly windowMs: number;
}

/** One compliance preset. */
export interface CompliancePreset {
  /** The preset's name, e.g. `us-tcpa`. */
  readonly name: string;
  /** When messages may not be sent, in the recipient's local time. */
  readonly quietHours: QuietHours;
  /** A per-recipient cap across campaigns, if the rule has one. */
  readonly frequencyCap?: FrequencyCap;
  /** The rule in words, for logs and deferral reasons. */
  readonly rule: string;
}

/** The names of the built-in compliance presets. */
export type CompliancePresetName = 'us-tcpa' | 'us-fl-ok';

const DAY_MS = 86_400_000;

function deepFreeze<T extends object>(o: T): T {
  for (const v of Object.values(o)) if (typeof v === 'object' && v !== null) deepFreeze(v);
  return Object.freeze(o);
}

/**
 * The built-in compliance presets (frozen data):
 *
 * - `us-tcpa` — US TCPA: messages only 08:00–21:00 in the recipient's local time (quiet
 *   21:00–08:00).
 * - `us-fl-ok` — Florida and Oklahoma "mini-TCPA" laws: messages only 08:00–20:00 recipient
 *   local time (quiet 20:00–08:00), and at most 3 messages per 24 hours per recipient.
 *
 * These encode common readings of the rules for scheduling; they are not legal advice.
 *
 * @example
 * ```ts
 * COMPLIANCE_PRESETS['us-tcpa'].quietHours; // { start: '21:00', end: '08:00' }
 * ```
 */
export const COMPLIANCE_PRESETS: Readonly<Record<CompliancePresetName, CompliancePreset>> = deepFreeze({
  'us-tcpa': {
    name: 'us-tcpa',
    quietHours: { start: '21:00', end: '08:00' },
    rule: 'TCPA: 08:00–21:00 recipient local time',
  },
  'us-fl-ok': {
    name: 'us-fl-ok',
    quietHours: { start: '20:00', end: '08:00' },
    frequencyCap: { max: 3, windowMs: DAY_MS },
    rule: 'Florida/Oklahoma mini-TCPA: 08:00–20:00 recipient local time, at most 3 messages per 24 h per recipient',
  },
});

/** The presets named, combined, as {@link resolveCompliance} returns them. */
export interface ResolvedCompliance {
  /** The quiet hours of every preset; all apply (a send must be outside every one). */
  quietHours: QuietHours[];
  /** The strictest frequency cap of the presets, with the preset it comes from; absent if none has one. */
  frequencyCap?: { max: number; windowMs: number; preset: string };
  /** The presets, in the order named, without duplicates. */
  presets: CompliancePreset[];
}

/**
 * Resolves compliance preset names into the quiet hours that all apply and the strictest
 * frequency cap (the lowest `max` per unit of time; on a tie, the lower `max`). Duplicate names
 * count once.
 *
 * @throws DriplineError `INVALID_INPUT` for an unknown name, listing the known ones:
 *   `unknown compliance preset "us-ca"; known presets: us-tcpa, us-fl-ok`.
 * @example
 * ```ts
 * const c = resolveCompliance(['us-tcpa', 'us-fl-ok']);
 * c.quietHours;   // [{ start: '21:00', end: '08:00' }, { start: '20:00', end: '08:00' }]
 * c.frequencyCap; // { max: 3, windowMs: 86_400_000, preset: 'us-fl-ok' }
 * ```
 */
export function resolveCompliance(names: readonly string[]): ResolvedCompliance {
  if (!Array.isArray(names))
    throw new DriplineError('INVALID_INPUT', `compliance must be an array of preset names, got ${show(names)}`, { details: { path: 'compliance' } });
  const known = Object.keys(COMPLIANCE_PRESETS);
  const presets: CompliancePreset[] = [];
  for (const name of names) {
    const preset = typeof name === 'string' && Object.hasOwn(COMPLIANCE_PRESETS, name) ? COMPLIANCE_PRESETS[name as CompliancePresetName] : undefined;
    if (!preset)
      throw new DriplineError('INVALID_INPUT', `unknown compliance preset ${show(name)}; known presets: ${known.join(', ')}`, {
        details: { path: 'compliance', value: typeof name === 'string' ? name : show(name), known },
      });
    if (!presets.includes(preset)) presets.push(preset);
  }
  const out: ResolvedCompliance = { quietHours: presets.map((p) => p.quietHours), presets };
  for (const p of presets) {
    const cap = p.frequencyCap;
    if (!cap) continue;
    const best = out.frequencyCap;
    const stricter = !best || cap.max * best.windowMs < best.max * cap.windowMs || (cap.max * best.windowMs === best.max * cap.windowMs && cap.max < best.max);
    if (stricter) out.frequencyCap = { max: cap.max, windowMs: cap.windowMs, preset: p.name };
  }
  return out;
}
