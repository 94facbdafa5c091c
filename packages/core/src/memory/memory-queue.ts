/**
 * An in-memory {@link ActionQueue}: a binary min-heap of wake-ups with a pull API for
 * runtimes driven by a virtual clock. Removed or superseded entries are dropped lazily.
 */
import type { ActionQueue, QueueItem } from '../ports/action-queue.js';

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
  const heap: QueueItem[] = [];
  const less = (a: QueueItem, b: QueueItem) => a.runAt < b.runAt || (a.runAt === b.runAt && a.key < b.key);
  const push = (it: QueueItem) => {
    heap.push(it);
    let i = heap.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(heap[i]!, heap[p]!)) break;
      [heap[i], heap[p]] = [heap[p]!, heap[i]!];
      i = p;
    }
  };
  const pop = (): QueueItem | undefined => {
    const top = heap[0];
    const last = heap.pop();
    if (heap.length && last) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && less(heap[l]!, heap[m]!)) m = l;
        if (r < heap.length && less(heap[r]!, heap[m]!)) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m]!, heap[i]!];
        i = m;
      }
    }
    return top;
  };
  /** Drops heap tops that were removed or superseded by an earlier runAt. */
  const clean = () => {
    while (heap.length && live.get(heap[0]!.key) !== heap[0]) pop();
  };
  return {
    async enqueue(batch) {
      for (const it of batch) {
        const cur = live.get(it.key);
        if (cur && cur.runAt <= it.runAt) continue;
        const item = { ...it };
        live.set(it.key, item);
        push(item);
      }
    },
    async remove(keys) {
      for (const k of keys) live.delete(k);
    },
    takeDue(now, limit) {
      const out: QueueItem[] = [];
      clean();
      while (out.length < limit && heap.length && heap[0]!.runAt <= now) {
        const it = pop()!;
        live.delete(it.key);
        out.push(it);
        clean();
      }
      return out;
    },
    nextRunAt() {
      clean();
      return heap.length ? heap[0]!.runAt : null;
    },
    get size() {
      return live.size;
    },
  };
}
