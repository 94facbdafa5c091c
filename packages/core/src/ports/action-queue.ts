/** A wake-up call for one scheduled action. */
export interface QueueItem {
  /** The action key. */
  key: string;
  tenantId: string;
  /** When the action is due (epoch ms). */
  runAt: number;
}

/**
 * Wakes work up at the right time. The store stays the source of truth: a queue only says
 * "look at action K at time T"; the worker claims K in the store and does nothing if it is
 * already done, so a lost or duplicated wake-up delays work but never loses or repeats it.
 */
export interface ActionQueue {
  /** Asks to be woken for these actions. Enqueuing a key twice is harmless. */
  enqueue(items: readonly QueueItem[]): Promise<void>;
  /** Withdraws wake-ups (best effort: a stale wake-up is a no-op anyway). */
  remove(keys: readonly string[]): Promise<void>;
}
