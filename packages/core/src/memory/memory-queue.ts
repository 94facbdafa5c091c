/**
 * An in-memory {@link ActionQueue}: a min-heap of wake-ups with a pull API for runtimes
 * driven by a virtual clock. Removed or superseded entries are dropped lazily.
 */
import type { ActionQueue, QueueItem } from '../ports/action-queue.js';
import { MinHeap } from './min-heap.js';

/** The in-memory queue, with the pull side a local runtime uses. */
export interface MemoryQueue extends ActionQueue {
  /** Removes and returns the wake-ups due at `now` (earliest first), at most `limit`. */
  takeDue(now: number, limit: number): QueueItem[];
  /** The earliest `runAt` waiting, or `null`. */
  nextRunAt(): number | null;
  /** Number of wake-ups waiting. */
  readonly size: number;
}

/** Creates an empty in-memory queue. A key enqueued twice keeps its earliest `runAt`. */
export function createMemoryQueue(): MemoryQueue {
  const live = new Map<string, QueueItem>();
  const heap = new MinHeap<{ at: number; key: string; item: QueueItem }>();
  /** Drops heap tops that were removed or superseded by an earlier runAt. */
  const clean = () => {
    for (let top = heap.peek(); top && live.get(top.key) !== top.item; top = heap.peek()) heap.pop();
  };
  return {
    async enqueue(batch) {
      for (const it of batch) {
        const cur = live.get(it.key);
        if (cur && cur.runAt <= it.runAt) continue;
        const item = { ...it };
        live.set(it.key, item);
        heap.push({ at: item.runAt, key: item.key, item });
      }
    },
    async remove(keys) {
      for (const k of keys) live.delete(k);
    },
    takeDue(now, limit) {
      const out: QueueItem[] = [];
      clean();
      for (let top = heap.peek(); out.length < limit && top && top.at <= now; top = heap.peek()) {
        heap.pop();
        live.delete(top.key);
        out.push(top.item);
        clean();
      }
      return out;
    },
    nextRunAt() {
      clean();
      return heap.peek()?.at ?? null;
    },
    get size() {
      return live.size;
    },
  };
}
